<%@ page session="false" %><%
    // The status written in <catalina.base>/health-status, 200 without the file: a test
    // flips a Tomcat's health check (drain, failure) by writing it.
    java.io.File f = new java.io.File(System.getProperty("catalina.base"), "health-status");
    int status = 200;
    if (f.exists()) {
        status = Integer.parseInt(new String(java.nio.file.Files.readAllBytes(f.toPath())).trim());
    }
    response.setStatus(status);
    out.write("health " + status + "\n");
%>
