package io.wsaudit.frameworks;

import org.springframework.boot.SpringApplication;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.boot.web.context.WebServerInitializedEvent;
import org.springframework.context.event.EventListener;

@SpringBootApplication
public class App {

    public static void main(String[] args) {
        SpringApplication.run(App.class, args);
    }

    @EventListener
    public void onListening(WebServerInitializedEvent event) {
        System.out.printf("listening on 127.0.0.1:%d mode=%s%n",
                event.getWebServer().getPort(), System.getenv().getOrDefault("MODE", "default"));
    }
}
