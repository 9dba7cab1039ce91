// open_cosigned opens a cosigned checkpoint note with golang.org/x/mod/sumdb/note, an
// implementation independent of Tongban's: the log's signature with note.NewVerifier, the
// witness's cosignature (c2sp.org/tlog-cosignature, cosignature/v1, type 0x04 Ed25519) with a
// note.Verifier written here from the spec. It prints the name of every verified signer, one a
// line, and exits 0; if note.Open refuses the note, it prints why on stderr and exits 1.
//
//	go run open_cosigned.go <log vkey> <witness vkey> < note
package main

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/mod/sumdb/note"
)

const cosignatureV1 = 0x04

type cosignatureVerifier struct {
	name string
	hash uint32
	key  ed25519.PublicKey
}

func (v *cosignatureVerifier) Name() string    { return v.name }
func (v *cosignatureVerifier) KeyHash() uint32 { return v.hash }

// Verify checks sig = 8-byte big-endian timestamp ‖ Ed25519 signature over
// "cosignature/v1\ntime <timestamp>\n" followed by the checkpoint (msg).
func (v *cosignatureVerifier) Verify(msg, sig []byte) bool {
	if len(sig) != 8+ed25519.SignatureSize {
		return false
	}
	timestamp := binary.BigEndian.Uint64(sig[:8])
	if timestamp == 0 {
		return false
	}
	signed := "cosignature/v1\ntime " + strconv.FormatUint(timestamp, 10) + "\n" + string(msg)
	return ed25519.Verify(v.key, []byte(signed), sig[8:])
}

// newCosignatureVerifier reads a vkey <name>+<hex key hash>+<base64(0x04 ‖ key)> and checks
// its key hash: the first 4 bytes of SHA-256(name ‖ "\n" ‖ 0x04 ‖ key), big-endian.
func newCosignatureVerifier(vkey string) (*cosignatureVerifier, error) {
	parts := strings.SplitN(vkey, "+", 3)
	if len(parts) != 3 {
		return nil, errors.New("malformed witness vkey")
	}
	name, hashHex, encoded := parts[0], parts[1], parts[2]
	material, err := base64.StdEncoding.DecodeString(encoded)
	if err != nil || len(material) != 1+ed25519.PublicKeySize || material[0] != cosignatureV1 {
		return nil, errors.New("not an Ed25519 cosignature/v1 vkey")
	}
	digest := sha256.Sum256(append([]byte(name+"\n"), material...))
	hash := binary.BigEndian.Uint32(digest[:4])
	claimed, err := strconv.ParseUint(hashHex, 16, 32)
	if err != nil || len(hashHex) != 8 || uint32(claimed) != hash {
		return nil, errors.New("the witness vkey's key hash does not match its key")
	}
	return &cosignatureVerifier{name, hash, ed25519.PublicKey(material[1:])}, nil
}

func main() {
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: open_cosigned <log vkey> <witness vkey> < note")
		os.Exit(2)
	}
	logVerifier, err := note.NewVerifier(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, "log vkey:", err)
		os.Exit(2)
	}
	witnessVerifier, err := newCosignatureVerifier(os.Args[2])
	if err != nil {
		fmt.Fprintln(os.Stderr, "witness vkey:", err)
		os.Exit(2)
	}
	msg, err := io.ReadAll(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	opened, err := note.Open(msg, note.VerifierList(logVerifier, witnessVerifier))
	if err != nil {
		fmt.Fprintln(os.Stderr, "note.Open:", err)
		os.Exit(1)
	}
	for _, sig := range opened.Sigs {
		fmt.Println(sig.Name)
	}
}
