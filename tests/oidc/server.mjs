// A real OpenID Connect provider on loopback for the single sign-on tests (oauth2-mock-server).
// Every authorization is granted at once to the person named by OIDC_EMAIL and OIDC_NAME.
// Usage: node server.mjs PORT   (prints "ready" when it listens)
import { OAuth2Server } from "oauth2-mock-server";

const port = Number(process.argv[2]);
const server = new OAuth2Server();
await server.issuer.keys.generate("RS256");
server.service.on("beforeTokenSigning", (token) => {
  token.payload.email = process.env.OIDC_EMAIL || "dana@example.com";
  token.payload.email_verified = true;
  token.payload.name = process.env.OIDC_NAME || "Dana Example";
  token.payload.sub = token.payload.email;
});
server.service.on("beforeUserinfo", (userInfoResponse) => {
  userInfoResponse.body = {
    sub: process.env.OIDC_EMAIL || "dana@example.com",
    email: process.env.OIDC_EMAIL || "dana@example.com",
    name: process.env.OIDC_NAME || "Dana Example",
  };
});
server.issuer.url = `http://127.0.0.1:${port}`;
await server.start(port, "127.0.0.1");
console.log("ready");
