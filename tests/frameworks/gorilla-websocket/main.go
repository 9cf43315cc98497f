// An echo server written as gorilla/websocket's examples/echo/server.go is, with the
// origin policy chosen by MODE (see framework.json).
package main

import (
	"log"
	"net/http"
	"os"

	"github.com/gorilla/websocket"
)

func upgraderFor(mode string, allowed string) websocket.Upgrader {
	switch mode {
	case "allowlist":
		// The allow-list the Upgrader.CheckOrigin documentation asks for: compare the
		// whole Origin header against the origins the application trusts.
		trusted := map[string]bool{allowed: true}
		return websocket.Upgrader{
			CheckOrigin: func(r *http.Request) bool {
				return trusted[r.Header.Get("Origin")]
			},
		}
	default:
		// "default", "proxy-default", "proxy-host": examples/echo/server.go line 21,
		// `websocket.Upgrader{} // use default options`: CheckOrigin nil means checkSameOrigin.
		return websocket.Upgrader{}
	}
}

func main() {
	upgrader := upgraderFor(os.Getenv("MODE"), os.Getenv("ALLOWED_ORIGIN"))
	http.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) {
		c, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			log.Print("upgrade:", err)
			return
		}
		defer c.Close()
		for {
			mt, message, err := c.ReadMessage()
			if err != nil {
				return
			}
			if err := c.WriteMessage(mt, message); err != nil {
				return
			}
		}
	})
	log.Fatal(http.ListenAndServe("127.0.0.1:"+os.Getenv("PORT"), nil))
}
