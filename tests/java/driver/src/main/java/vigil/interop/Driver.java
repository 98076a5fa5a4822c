package vigil.interop;

import com.alibaba.nacos.api.NacosFactory;
import com.alibaba.nacos.api.config.ConfigService;
import com.alibaba.nacos.api.config.listener.AbstractListener;
import com.alibaba.nacos.api.exception.NacosException;
import ch.qos.logback.classic.LoggerContext;
import org.slf4j.LoggerFactory;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.io.UnsupportedEncodingException;
import java.net.URLDecoder;
import java.net.URLEncoder;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.Map;
import java.util.Properties;

/**
 * Drives nacos-client 1.x for tests/java_client: one command per line on stdin,
 * one reply per command on stdout, and listener callbacks as event lines on
 * stdout whenever they happen. The client code under test runs unchanged; this
 * class only turns lines into calls of its public API.
 *
 * <p>Every field is tab-separated and percent-encoded (UTF-8, as URLEncoder
 * encodes). A config value is written "=" + encoded content, or "null" when the
 * client returns null. Commands and their replies:
 *
 * <pre>
 * client NAME KEY=VALUE...                 ok               (NacosFactory.createConfigService)
 * get NAME DATA_ID GROUP TIMEOUT_MS        ok VALUE
 * publish NAME DATA_ID GROUP CONTENT [TYPE] ok true|false
 * remove NAME DATA_ID GROUP                ok true|false
 * listen NAME DATA_ID GROUP                ok               (addListener)
 * listen_range NAME PREFIX FROM TO GROUP   ok               (addListener on PREFIX+i, FROM <= i < TO)
 * quit                                     bye              (then exits 0)
 * </pre>
 *
 * A command that throws answers "err CLASS ERRCODE MESSAGE". Events:
 * "change NAME DATA_ID GROUP VALUE".
 */
public final class Driver {

    /** The real stdout; System.out is pointed at stderr so no library can write into the protocol. */
    private static final PrintStream OUT = System.out;

    private final Map<String, ConfigService> clients = new HashMap<>();

    public static void main(String[] args) throws Exception {
        System.setOut(System.err);
        Driver driver = new Driver();
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            if (line.isEmpty()) {
                continue;
            }
            String[] f = line.split("\t", -1);
            for (int i = 0; i < f.length; i++) {
                f[i] = URLDecoder.decode(f[i], "UTF-8");
            }
            if (f[0].equals("quit")) {
                // Exits as a process does, without ConfigService.shutDown: that closes
                // the shared HTTP client under the long polls still in flight, which
                // then fail and are logged as errors of the client's own making.
                // Stopping Logback drains the client's asynchronous appender into
                // config.log first.
                ((LoggerContext) LoggerFactory.getILoggerFactory()).stop();
                emit("bye");
                System.exit(0);
            }
            try {
                emit("ok" + driver.run(f));
            } catch (NacosException e) {
                emit("err\tNacosException\t" + e.getErrCode() + "\t" + enc(String.valueOf(e.getErrMsg())));
            } catch (Exception e) {
                emit("err\t" + e.getClass().getName() + "\t0\t" + enc(String.valueOf(e.getMessage())));
            }
        }
    }

    /** Runs one command; returns the reply's fields after "ok", each with its leading tab. */
    private String run(String[] f) throws Exception {
        switch (f[0]) {
            case "client": {
                Properties props = new Properties();
                for (int i = 2; i < f.length; i++) {
                    int eq = f[i].indexOf('=');
                    props.setProperty(f[i].substring(0, eq), f[i].substring(eq + 1));
                }
                clients.put(f[1], NacosFactory.createConfigService(props));
                return "";
            }
            case "get":
                return "\t" + value(client(f[1]).getConfig(f[2], f[3], Long.parseLong(f[4])));
            case "publish": {
                ConfigService c = client(f[1]);
                boolean ok = f.length > 5 ? c.publishConfig(f[2], f[3], f[4], f[5]) : c.publishConfig(f[2], f[3], f[4]);
                return "\t" + ok;
            }
            case "remove":
                return "\t" + client(f[1]).removeConfig(f[2], f[3]);
            case "listen":
                listen(f[1], f[2], f[3]);
                return "";
            case "listen_range": {
                int from = Integer.parseInt(f[3]);
                int to = Integer.parseInt(f[4]);
                for (int i = from; i < to; i++) {
                    listen(f[1], f[2] + i, f[5]);
                }
                return "";
            }
            default:
                throw new IllegalArgumentException("unknown command " + f[0]);
        }
    }

    private void listen(final String name, final String dataId, final String group) throws NacosException {
        client(name).addListener(dataId, group, new AbstractListener() {
            @Override
            public void receiveConfigInfo(String content) {
                emit("change\t" + enc(name) + "\t" + enc(dataId) + "\t" + enc(group) + "\t" + value(content));
            }
        });
    }

    private ConfigService client(String name) {
        ConfigService c = clients.get(name);
        if (c == null) {
            throw new IllegalArgumentException("no client named " + name);
        }
        return c;
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

    /** One whole line at a time: replies and events come from different threads. */
    private static void emit(String line) {
        synchronized (OUT) {
            OUT.print(line);
            OUT.print('\n');
            OUT.flush();
        }
    }
}
