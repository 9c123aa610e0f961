// Test backend for mod_rjk's integration tests: one servlet mapped to /* (see WEB-INF/web.xml).
// tests/tomcat/tomcat.sh compiles it against Tomcat's servlet-api.jar at start.
//
// Endpoints (the Rust side in tests/common/tomcat.rs mirrors the formats):
//   /echo         any method: what Tomcat saw of the request, one `key=value` per line;
//                 ?attrs=RJK_A,RJK_B also prints those request attributes (see echo())
//   /size/N       N bytes, byte i = (i*31 + 7) & 0xFF; Content-Length unless ?chunked=1
//   /status/N     status N, empty body unless ?body=1
//   /sleep/MS     sleeps, answers "slept" (?flush=1: sends "sleeping\n" and flushes first)
//   /session      HttpSession counter: "route=R count=N id=ID"
//   /count        ?id=X increments X's counter and returns it, ?get=X only reads it
//   /headers      two Set-Cookie headers, X-Long-Header (?len=N, default 4000), text/html UTF-8
//   /redirect     sendRedirect to ?to= (default /echo): 302 with Location
//   /etag         ETag "rjk-v1" and a fixed Last-Modified; 304 when If-None-Match matches
// Anything else: 404 "not found".
//
// Output encoding of /echo: every char below 256 is written as that single byte, anything
// else as UTF-8. Tomcat decodes header values and the raw URI/query byte by byte
// (ISO-8859-1), so this gives back exactly the bytes that arrived on the wire; decoded
// values (path_info) come out as UTF-8. A null value is printed as `(null)`.

import jakarta.servlet.ServletException;
import jakarta.servlet.ServletOutputStream;
import jakarta.servlet.http.HttpServlet;
import jakarta.servlet.http.HttpServletRequest;
import jakarta.servlet.http.HttpServletResponse;
import jakarta.servlet.http.HttpSession;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.Enumeration;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;

public class RjkTestServlet extends HttpServlet {
    private static final long serialVersionUID = 1L;

    // Per-JVM, not per-session: tests count how often a request really reached the backend.
    private static final ConcurrentHashMap<String, AtomicLong> COUNTS = new ConcurrentHashMap<>();

    private static final String ROUTE = System.getProperty("jvm.route", "(null)");

    // Overriding service() instead of doGet/doPost lets every method (PROPFIND, PATCH, ...)
    // reach /echo; HttpServlet's dispatcher would answer 501 for unknown ones.
    @Override
    protected void service(HttpServletRequest req, HttpServletResponse resp)
            throws ServletException, IOException {
        String path = req.getPathInfo();
        if (path == null) {
            path = "/";
        }
        try {
            if (path.equals("/echo") || path.startsWith("/echo/")) {
                echo(req, resp);
            } else if (path.startsWith("/size/")) {
                size(req, resp, Long.parseLong(path.substring(6)));
            } else if (path.startsWith("/status/")) {
                status(req, resp, Integer.parseInt(path.substring(8)));
            } else if (path.startsWith("/sleep/")) {
                sleep(req, resp, Long.parseLong(path.substring(7)));
            } else if (path.equals("/session")) {
                session(req, resp);
            } else if (path.equals("/count")) {
                count(req, resp);
            } else if (path.equals("/headers")) {
                headers(req, resp);
            } else if (path.equals("/redirect")) {
                String to = queryParam(req, "to");
                resp.sendRedirect(to == null ? "/echo" : to);
            } else if (path.startsWith("/read/")) {
                readSome(req, resp, Long.parseLong(path.substring(6)));
            } else if (path.equals("/etag")) {
                etag(req, resp);
            } else {
                plain(resp, 404, "not found\n");
            }
        } catch (NumberFormatException e) {
            plain(resp, 400, "bad number: " + e.getMessage() + "\n");
        }
    }

    private static void plain(HttpServletResponse resp, int status, String body) throws IOException {
        byte[] b = body.getBytes(StandardCharsets.UTF_8);
        resp.setStatus(status);
        resp.setContentType("text/plain;charset=UTF-8");
        resp.setContentLength(b.length);
        resp.getOutputStream().write(b);
    }

    // getParameter() would consume a form-encoded request body, which /echo must hash and
    // /count must leave alone, so query parameters are read from the raw query string.
    private static String queryParam(HttpServletRequest req, String name) {
        String q = req.getQueryString();
        if (q == null) {
            return null;
        }
        for (String pair : q.split("&")) {
            int eq = pair.indexOf('=');
            String k = eq < 0 ? pair : pair.substring(0, eq);
            if (k.equals(name)) {
                String v = eq < 0 ? "" : pair.substring(eq + 1);
                return java.net.URLDecoder.decode(v, StandardCharsets.UTF_8);
            }
        }
        return null;
    }

    private static void put(ByteArrayOutputStream out, String key, Object value) {
        String v;
        if (value == null) {
            v = "(null)";
        } else if (value instanceof Object[]) {
            v = Arrays.toString((Object[]) value);
        } else {
            v = String.valueOf(value);
        }
        String line = key + "=" + v + "\n";
        for (int i = 0; i < line.length(); i++) {
            char c = line.charAt(i);
            if (c < 256) {
                out.write(c);
            } else {
                byte[] u = String.valueOf(c).getBytes(StandardCharsets.UTF_8);
                out.write(u, 0, u.length);
            }
        }
    }

    private void echo(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        // Read the body first so nothing else can consume it.
        MessageDigest sha;
        try {
            sha = MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IOException(e);
        }
        long bodyLen = 0;
        byte[] buf = new byte[65536];
        try (InputStream in = req.getInputStream()) {
            int n;
            while ((n = in.read(buf)) >= 0) {
                sha.update(buf, 0, n);
                bodyLen += n;
            }
        }
        StringBuilder hex = new StringBuilder();
        for (byte b : sha.digest()) {
            hex.append(String.format("%02x", b & 0xFF));
        }

        ByteArrayOutputStream out = new ByteArrayOutputStream();
        put(out, "method", req.getMethod());
        put(out, "uri", req.getRequestURI());
        put(out, "query", req.getQueryString());
        put(out, "path_info", req.getPathInfo());
        put(out, "protocol", req.getProtocol());
        put(out, "remote_addr", req.getRemoteAddr());
        put(out, "remote_host", req.getRemoteHost());
        put(out, "remote_port", req.getRemotePort());
        put(out, "local_addr", req.getLocalAddr());
        put(out, "local_port", req.getLocalPort());
        put(out, "server_name", req.getServerName());
        put(out, "server_port", req.getServerPort());
        put(out, "secure", req.isSecure());
        put(out, "scheme", req.getScheme());
        put(out, "remote_user", req.getRemoteUser());
        put(out, "auth_type", req.getAuthType());
        put(out, "route", ROUTE);
        put(out, "content_length", req.getContentLengthLong());
        put(out, "content_type", req.getContentType());
        put(out, "body_len", bodyLen);
        put(out, "body_sha256", hex);

        for (Enumeration<String> names = req.getHeaderNames(); names.hasMoreElements(); ) {
            String name = names.nextElement();
            for (Enumeration<String> vals = req.getHeaders(name); vals.hasMoreElements(); ) {
                put(out, "header." + name.toLowerCase(java.util.Locale.ROOT), vals.nextElement());
            }
        }

        Set<String> seen = new LinkedHashSet<>();
        List<String> attrNames = new ArrayList<>(Collections.list(req.getAttributeNames()));
        Collections.sort(attrNames);
        for (String name : attrNames) {
            seen.add(name);
            put(out, "attr." + name, req.getAttribute(name));
        }
        // getAttributeNames() does not enumerate attributes that arrived over AJP (Tomcat
        // keeps them on its internal request), hence the explicit list and ?attrs=A,B.
        // AJP_REMOTE_PORT / AJP_LOCAL_ADDR become remote_port / local_addr instead of
        // attributes; they are listed so a test can assert exactly that.
        List<String> wanted = new ArrayList<>(Arrays.asList(
                "AJP_REMOTE_PORT", "AJP_LOCAL_ADDR", "JK_LB_ACTIVATION",
                "javax.servlet.include.request_uri", "jakarta.servlet.include.request_uri"));
        String extra = queryParam(req, "attrs");
        if (extra != null) {
            for (String a : extra.split(",")) {
                if (!a.isEmpty()) {
                    wanted.add(a);
                }
            }
        }
        for (String name : wanted) {
            if (seen.add(name)) {
                put(out, "attr." + name, req.getAttribute(name));
            }
        }

        resp.setStatus(200);
        resp.setContentType("text/plain;charset=ISO-8859-1");
        resp.setContentLength(out.size());
        out.writeTo(resp.getOutputStream());
    }

    /**
     * /read/N: reads at most N bytes of the request body (0: none, the rest is left to
     * the container) and answers how many it got, with the AJP connection's id, so a
     * test can tell whether the next request came on the same backend connection.
     */
    private static void readSome(HttpServletRequest req, HttpServletResponse resp, long n)
            throws IOException {
        long got = 0;
        byte[] buf = new byte[8192];
        InputStream in = req.getInputStream();
        while (got < n) {
            int r = in.read(buf, 0, (int) Math.min(buf.length, n - got));
            if (r < 0) {
                break;
            }
            got += r;
        }
        plain(resp, 200, "read=" + got + "\nconn=" + req.getServletConnection().getConnectionId() + "\n");
    }

    /** The byte at offset i of every /size body. */
    static byte sizeByte(long i) {
        return (byte) ((i * 31 + 7) & 0xFF);
    }

    private void size(HttpServletRequest req, HttpServletResponse resp, long n) throws IOException {
        resp.setStatus(200);
        resp.setContentType("application/octet-stream");
        if (!"1".equals(queryParam(req, "chunked"))) {
            resp.setContentLengthLong(n);
        }
        ServletOutputStream os = resp.getOutputStream();
        // The pattern repeats every 256 bytes and 65536 is a multiple of it, so one buffer
        // serves every write.
        byte[] block = new byte[65536];
        for (int i = 0; i < block.length; i++) {
            block[i] = sizeByte(i);
        }
        long left = n;
        while (left > 0) {
            int len = (int) Math.min(block.length, left);
            os.write(block, 0, len);
            left -= len;
        }
    }

    private void status(HttpServletRequest req, HttpServletResponse resp, int code) throws IOException {
        if ("1".equals(queryParam(req, "body"))) {
            plain(resp, code, "status " + code + "\n");
        } else {
            resp.setStatus(code);
            resp.setContentLength(0);
        }
    }

    private void sleep(HttpServletRequest req, HttpServletResponse resp, long ms) throws IOException {
        resp.setStatus(200);
        resp.setContentType("text/plain;charset=UTF-8");
        ServletOutputStream os = resp.getOutputStream();
        if ("1".equals(queryParam(req, "flush"))) {
            os.write("sleeping\n".getBytes(StandardCharsets.UTF_8));
            os.flush();
        }
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        os.write("slept".getBytes(StandardCharsets.UTF_8));
    }

    private void session(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        HttpSession s = req.getSession(true);
        int count;
        synchronized (s) {
            Integer c = (Integer) s.getAttribute("count");
            count = c == null ? 1 : c + 1;
            s.setAttribute("count", count);
        }
        plain(resp, 200, "route=" + ROUTE + " count=" + count + " id=" + s.getId() + "\n");
    }

    private void count(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        String id = queryParam(req, "id");
        String get = queryParam(req, "get");
        long v;
        if (id != null) {
            v = COUNTS.computeIfAbsent(id, k -> new AtomicLong()).incrementAndGet();
        } else if (get != null) {
            AtomicLong c = COUNTS.get(get);
            v = c == null ? 0 : c.get();
        } else {
            plain(resp, 400, "need ?id= or ?get=\n");
            return;
        }
        plain(resp, 200, v + "\n");
    }

    private void headers(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        String lenParam = queryParam(req, "len");
        int len = lenParam == null ? 4000 : Integer.parseInt(lenParam);
        StringBuilder longValue = new StringBuilder(len);
        String alphabet = "0123456789abcdefghijklmnopqrstuvwxyz";
        for (int i = 0; i < len; i++) {
            longValue.append(alphabet.charAt(i % alphabet.length()));
        }
        resp.setStatus(200);
        resp.addHeader("Set-Cookie", "a=1; Path=/");
        resp.addHeader("Set-Cookie", "b=2; Path=/; HttpOnly");
        resp.setHeader("X-Long-Header", longValue.toString());
        resp.setContentType("text/html;charset=UTF-8");
        byte[] body = "<html><body>headers</body></html>\n".getBytes(StandardCharsets.UTF_8);
        resp.setContentLength(body.length);
        resp.getOutputStream().write(body);
    }

    private void etag(HttpServletRequest req, HttpServletResponse resp) throws IOException {
        String tag = "\"rjk-v1\"";
        resp.setHeader("ETag", tag);
        resp.setDateHeader("Last-Modified", 1000000000000L);
        if (tag.equals(req.getHeader("If-None-Match"))) {
            resp.setStatus(304);
            return;
        }
        plain(resp, 200, "etag body\n");
    }
}
