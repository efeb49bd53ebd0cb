// A preview with a WebSocket endpoint, as a Node app would have one: the `ws` package on Node's own
// http server. It first tells what its handshake carried, then echoes (text as text, binary as binary);
// "close CODE REASON" closes with them.
const http = require("http");
const { WebSocketServer } = require("ws");

const server = http.createServer((request, response) => {
  response.writeHead(200, { "content-type": "text/plain" });
  response.end("node ws preview\n");
});
const sockets = new WebSocketServer({
  server,
  handleProtocols: (offered) => (offered.has("echo.v1") ? "echo.v1" : false),
});
sockets.on("connection", (socket, request) => {
  socket.send(JSON.stringify({
    host: request.headers.host,
    forwardedFor: request.headers["x-forwarded-for"],
    forwardedHost: request.headers["x-forwarded-host"],
    forwardedProto: request.headers["x-forwarded-proto"],
  }));
  socket.on("message", (data, isBinary) => {
    const text = isBinary ? "" : data.toString();
    if (text.startsWith("close ")) {
      const [, code, ...reason] = text.split(" ");
      socket.close(Number(code), reason.join(" "));
      return;
    }
    socket.send(data, { binary: isBinary });
  });
});
server.listen(Number(process.env.PORT), process.env.HOST);
