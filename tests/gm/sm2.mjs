// An independent SM2/SM3 implementation for the interoperability tests
// (tests/security/gm/test_interop.py): npm's sm-crypto, pinned by package-lock.json.
// Reads one JSON request on stdin, writes one JSON answer on stdout; bytes are hex.
//   {"op": "keypair"}                                    -> {"private", "public"}
//   {"op": "public_of", "private"}                       -> {"public"}
//   {"op": "sign", "private", "public", "message"}       -> {"signature"}   (raw r ‖ s)
//   {"op": "verify", "public", "message", "signature"}   -> {"valid": true|false}
//   {"op": "sm3", "message"}                             -> {"digest"}
// Signatures use SM3 with the default distinguishing ID 1234567812345678 (userId).
import { readFileSync } from "node:fs";
import smCrypto from "sm-crypto";

const { sm2, sm3 } = smCrypto;
const request = JSON.parse(readFileSync(0, "utf8"));
const bytes = (hex) => Array.from(Buffer.from(hex, "hex"));
const answers = {
  keypair: () => {
    const pair = sm2.generateKeyPairHex();
    return { private: pair.privateKey, public: pair.publicKey };
  },
  public_of: ({ private: key }) => ({ public: sm2.getPublicKeyFromPrivateKey(key) }),
  sign: ({ private: key, public: pub, message }) => ({
    signature: sm2.doSignature(bytes(message), key, { hash: true, der: false, publicKey: pub }),
  }),
  verify: ({ public: pub, message, signature }) => ({
    valid: sm2.doVerifySignature(bytes(message), signature, pub, { hash: true, der: false }),
  }),
  sm3: ({ message }) => ({ digest: sm3(bytes(message)) }),
};
process.stdout.write(JSON.stringify(answers[request.op](request)));
