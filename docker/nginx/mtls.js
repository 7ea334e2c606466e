// The SHA-256 fingerprint of the client certificate nginx has just verified, as lower-case hex.
// nginx's own $ssl_client_fingerprint is SHA-1; the app identifies certificates by SHA-256.
function sha256_fingerprint(r) {
    var pem = r.variables.ssl_client_raw_cert;
    if (!pem || r.variables.ssl_client_verify !== "SUCCESS") {
        return "";
    }
    var body = pem.replace(/-----(BEGIN|END) CERTIFICATE-----/g, "").replace(/\s+/g, "");
    return require("crypto").createHash("sha256").update(Buffer.from(body, "base64")).digest("hex");
}

export default { sha256_fingerprint };
