package vigil.interop.spring;

import org.springframework.beans.factory.annotation.Value;
import org.springframework.boot.WebApplicationType;
import org.springframework.boot.autoconfigure.SpringBootApplication;
import org.springframework.boot.builder.SpringApplicationBuilder;
import org.springframework.boot.context.properties.ConfigurationProperties;
import org.springframework.boot.context.properties.EnableConfigurationProperties;
import org.springframework.cloud.context.environment.EnvironmentChangeEvent;
import org.springframework.cloud.context.config.annotation.RefreshScope;
import org.springframework.cloud.context.scope.refresh.RefreshScopeRefreshedEvent;
import org.springframework.context.ConfigurableApplicationContext;
import org.springframework.context.event.EventListener;
import org.springframework.core.env.ConfigurableEnvironment;
import org.springframework.core.env.PropertySource;
import org.springframework.stereotype.Component;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.io.UnsupportedEncodingException;
import java.net.URLDecoder;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.TreeSet;

/**
 * A Spring Boot application as a Spring Cloud Alibaba user writes one: its
 * configuration comes from the config server through bootstrap.yml, a
 * {@code @RefreshScope} bean and a {@code @ConfigurationProperties} bean follow
 * changes, a plain singleton keeps what it read at start-up.
 *
 * <p>tests/java_client/spring.rs talks to it over stdin/stdout, one line each,
 * fields tab-separated and percent-encoded; a value is "=" + encoded text or
 * "null". Once started it prints "ready". Commands:
 *
 * <pre>
 * get KEY...   ok VALUE...   (the environment's value of each key)
 * beans        ok REFRESH_SCOPE_VALUE CONFIGURATION_PROPERTIES_VALUE SINGLETON_VALUE REFRESH_SCOPE_INSTANCES
 * sources      ok NAME...    (the names of the property sources the config server supplied, highest precedence first)
 * quit         bye
 * </pre>
 *
 * Events: "refreshed KEY..." after each refresh of the refresh scope, with the
 * keys whose values changed.
 */
@SpringBootApplication
@EnableConfigurationProperties(App.DemoProperties.class)
public class App {

    /** The real stdout; System.out goes to stderr so Spring's banner and logs stay out of the protocol. */
    private static final PrintStream OUT = System.out;

    /** Keys of the last environment change, reported with the refresh that follows it. */
    private static volatile String changedKeys = "";

    public static void main(String[] args) throws Exception {
        System.setOut(System.err);
        ConfigurableApplicationContext ctx =
                new SpringApplicationBuilder(App.class).web(WebApplicationType.NONE).run(args);
        emit("ready");
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            String[] f = line.split("\t", -1);
            for (int i = 0; i < f.length; i++) {
                f[i] = URLDecoder.decode(f[i], "UTF-8");
            }
            if (f[0].equals("quit")) {
                ctx.close();
                emit("bye");
                System.exit(0);
            }
            try {
                emit("ok" + run(ctx, f));
            } catch (Exception e) {
                emit("err\t" + e.getClass().getName() + "\t0\t" + enc(String.valueOf(e.getMessage())));
            }
        }
        ctx.close();
    }

    private static String run(ConfigurableApplicationContext ctx, String[] f) {
        StringBuilder reply = new StringBuilder();
        switch (f[0]) {
            case "get":
                for (int i = 1; i < f.length; i++) {
                    reply.append('\t').append(value(ctx.getEnvironment().getProperty(f[i])));
                }
                return reply.toString();
            case "beans":
                return "\t" + value(ctx.getBean(RefreshedGreeting.class).greeting())
                        + "\t" + value(ctx.getBean(DemoProperties.class).getGreeting())
                        + "\t" + value(ctx.getBean(FixedGreeting.class).greeting())
                        + "\t" + RefreshedGreeting.INSTANCES.get();
            case "sources":
                for (PropertySource<?> source : ctx.getEnvironment().getPropertySources()) {
                    if (source.getName().startsWith("bootstrapProperties-")) {
                        reply.append('\t').append(enc(source.getName()));
                    }
                }
                return reply.toString();
            default:
                throw new IllegalArgumentException("unknown command " + f[0]);
        }
    }

    /** Rebuilt on every refresh, so its {@code @Value} field is read again. */
    @Component
    @RefreshScope
    public static class RefreshedGreeting {
        static final java.util.concurrent.atomic.AtomicInteger INSTANCES =
                new java.util.concurrent.atomic.AtomicInteger();

        @Value("${demo.greeting}")
        private String greeting;

        public RefreshedGreeting() {
            INSTANCES.incrementAndGet();
        }

        public String greeting() {
            return greeting;
        }
    }

    /** A singleton: its {@code @Value} field keeps the start-up value, as Spring documents. */
    @Component
    public static class FixedGreeting {
        @Value("${demo.greeting}")
        private String greeting;

        public String greeting() {
            return greeting;
        }
    }

    /** Rebound on every environment change. */
    @ConfigurationProperties(prefix = "demo")
    public static class DemoProperties {
        private String greeting;

        public String getGreeting() {
            return greeting;
        }

        public void setGreeting(String greeting) {
            this.greeting = greeting;
        }
    }

    @Component
    public static class RefreshReporter {
        @EventListener
        public void environmentChanged(EnvironmentChangeEvent event) {
            changedKeys = String.join("\t", new TreeSet<>(event.getKeys()));
        }

        @EventListener
        public void refreshed(RefreshScopeRefreshedEvent event) {
            emit(changedKeys.isEmpty() ? "refreshed" : "refreshed\t" + changedKeys);
        }
    }

    private static String value(String content) {
        return content == null ? "null" : "=" + enc(content);
    }

    private static String enc(String s) {
        try {
            return URLEncoder.encode(s, "UTF-8");
        } catch (UnsupportedEncodingException e) {
            throw new IllegalStateException(e);
        }
    }

    private static void emit(String line) {
        synchronized (OUT) {
            OUT.print(line);
            OUT.print('\n');
            OUT.flush();
        }
    }
}
