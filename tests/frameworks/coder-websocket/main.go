// An echo server with coder/websocket's Accept, with the origin policy chosen by MODE
// (see framework.json).
package main

import (
	"context"
	"log"
	"net/http"
	"os"

	"github.com/coder/websocket"
)

func optionsFor(mode string) *websocket.AcceptOptions {
	if mode == "allowlist" {
		// AcceptOptions.OriginPatterns as its documentation shows (accept.go lines 35-53):
		// host patterns, e.g. []string{"example.com"}.
		return &websocket.AcceptOptions{OriginPatterns: []string{"app.example.com"}}
	}
	// "default": Accept(w, r, nil), the same-host check of authenticateOrigin.
	return nil
}

func main() {
	options := optionsFor(os.Getenv("MODE"))
	http.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, options)
		if err != nil {
			log.Print("accept: ", err)
			return
		}
		defer c.CloseNow()
		ctx := context.Background()
		for {
			typ, message, err := c.Read(ctx)
			if err != nil {
				return
			}
			if err := c.Write(ctx, typ, message); err != nil {
				return
			}
		}
	})
	log.Fatal(http.ListenAndServe("127.0.0.1:"+os.Getenv("PORT"), nil))
}
