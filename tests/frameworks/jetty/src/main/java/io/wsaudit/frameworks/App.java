package io.wsaudit.frameworks;

import java.util.Objects;

import org.eclipse.jetty.http.HttpStatus;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.server.handler.ContextHandler;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.websocket.api.Session;
import org.eclipse.jetty.websocket.api.annotations.OnWebSocketMessage;
import org.eclipse.jetty.websocket.api.annotations.WebSocket;
import org.eclipse.jetty.websocket.server.WebSocketUpgradeHandler;

/**
 * Jetty 12 with Jetty's own WebSocket API, set up as the programming guide shows
 * ("Jetty APIs Implementation": a ContextHandler, a WebSocketUpgradeHandler and
 * container.addMapping(path, WebSocketCreator)).
 *
 * <p>default: the creator always returns the endpoint; Jetty checks no Origin.
 * allowlist: the creator compares the Origin and, as the WebSocketCreator javadoc asks of a
 * creator that does not want to create an endpoint, sends the response itself and returns null.
 */
public final class App {

    @WebSocket
    public static class EchoEndPoint {
        @OnWebSocketMessage
        public void onText(Session session, String message) {
            session.sendText(message, org.eclipse.jetty.websocket.api.Callback.NOOP);
        }
    }

    public static void main(String[] args) throws Exception {
        int port = Integer.parseInt(System.getenv().getOrDefault("PORT", "8080"));
        String mode = System.getenv().getOrDefault("MODE", "default");
        String allowedOrigin = System.getenv().getOrDefault("ALLOWED_ORIGIN", "https://app.example.com");
        if (!mode.equals("default") && !mode.equals("allowlist")) {
            System.err.println("unknown MODE " + mode);
            System.exit(2);
        }

        Server server = new Server();
        ServerConnector connector = new ServerConnector(server);
        connector.setHost("127.0.0.1");
        connector.setPort(port);
        server.addConnector(connector);

        ContextHandler context = new ContextHandler("/");
        server.setHandler(context);

        WebSocketUpgradeHandler webSocketHandler = WebSocketUpgradeHandler.from(server, context, container -> {
            if (mode.equals("default")) {
                container.addMapping("/ws", (rq, rs, cb) -> new EchoEndPoint());
            } else {
                container.addMapping("/ws", (rq, rs, cb) -> {
                    String origin = rq.getHeaders().get("Origin");
                    if (!Objects.equals(origin, allowedOrigin)) {
                        Response.writeError(rq, rs, cb, HttpStatus.FORBIDDEN_403);
                        return null;
                    }
                    return new EchoEndPoint();
                });
            }
        });
        context.setHandler(webSocketHandler);

        server.start();
        System.out.printf("listening on 127.0.0.1:%d mode=%s%n", connector.getLocalPort(), mode);
        server.join();
    }
}
