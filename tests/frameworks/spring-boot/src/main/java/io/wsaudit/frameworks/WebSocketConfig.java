package io.wsaudit.frameworks;

import org.springframework.beans.factory.annotation.Value;
import org.springframework.context.annotation.Configuration;
import org.springframework.web.socket.config.annotation.EnableWebSocket;
import org.springframework.web.socket.config.annotation.WebSocketConfigurer;
import org.springframework.web.socket.config.annotation.WebSocketHandlerRegistration;
import org.springframework.web.socket.config.annotation.WebSocketHandlerRegistry;

/**
 * The reference documentation's configuration ("WebSocket API", "Allowed Origins").
 *
 * <p>default: no setAllowedOrigins, so Spring's default (same origin only) applies.
 * allowlist and cors-filter: setAllowedOrigins(ALLOWED_ORIGIN).
 */
@Configuration
@EnableWebSocket
public class WebSocketConfig implements WebSocketConfigurer {

    @Value("${MODE:default}")
    private String mode;

    @Value("${ALLOWED_ORIGIN:https://app.example.com}")
    private String allowedOrigin;

    @Override
    public void registerWebSocketHandlers(WebSocketHandlerRegistry registry) {
        WebSocketHandlerRegistration registration = registry.addHandler(new EchoHandler(), "/ws");
        if (!"default".equals(mode)) {
            registration.setAllowedOrigins(allowedOrigin);
        }
    }
}
