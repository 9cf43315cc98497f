package io.wsaudit.frameworks;

import org.springframework.boot.autoconfigure.condition.ConditionalOnProperty;
import org.springframework.context.annotation.Bean;
import org.springframework.context.annotation.Configuration;
import org.springframework.web.cors.CorsConfiguration;
import org.springframework.web.cors.UrlBasedCorsConfigurationSource;
import org.springframework.web.filter.CorsFilter;

/**
 * cors-filter: the reference documentation's global CorsFilter ("CORS Filter" in Web MVC),
 * written for the REST API's front end, a different origin than the WebSocket allows.
 * Servlet filters run before the WebSocket handshake handler, so it sees the handshake too.
 */
@Configuration
@ConditionalOnProperty(name = "MODE", havingValue = "cors-filter")
public class CorsFilterConfig {

    static final String API_CLIENT_ORIGIN = "https://admin.example.com";

    @Bean
    public CorsFilter corsFilter() {
        CorsConfiguration config = new CorsConfiguration();
        config.setAllowCredentials(true);
        config.addAllowedOrigin(API_CLIENT_ORIGIN);
        config.addAllowedHeader("*");
        config.addAllowedMethod("*");

        UrlBasedCorsConfigurationSource source = new UrlBasedCorsConfigurationSource();
        source.registerCorsConfiguration("/**", config);
        return new CorsFilter(source);
    }
}
