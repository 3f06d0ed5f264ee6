#!/usr/bin/env bash
# Downloads the pinned upstream operand source into the Go module cache and prints one JSON object on
# stdout mapping each module@version to its directory there (the `Dir` of `go mod download -json`):
#   {"kubevirt.io/kubevirt@v1.9.0": "/home/me/go/pkg/mod/kubevirt.io/kubevirt@v1.9.0", ...}
# The pins are the require lines of go.mod beside this script plus `extra` below: a module path takes
# one version per go.mod, so a second tag of the same module is listed here. go.sum holds the hashes of
# all of them, so a changed upstream zip fails the download instead of being used. go mod download
# records the hash of a new require line itself, but not of an `extra` pin: add its two lines (the Sum
# and GoModSum fields of `go mod download -json MODULE@VERSION`) to go.sum by hand.
# Exits non-zero, naming the module on stderr, if any pin cannot be downloaded.
# Usage: hack/upstream/fetch.sh
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

# Older KubeVirt tags beside the default v1.9.0: v1.5.3, the newest v1.5 patch, and v1.5.1, the source of
# the virt-operator that hack/testenv/virt-operator builds (v1.8+ need modules the proxy refuses).
extra=(kubevirt.io/kubevirt@v1.5.3 kubevirt.io/kubevirt@v1.5.1)

mapfile -t pins < <(go mod edit -json | python3 -c '
import json, sys
for r in json.load(sys.stdin)["Require"]:
    print(r["Path"] + "@" + r["Version"])
')

# go mod download exits non-zero on any failure; its JSON still names each failure, reported below.
go mod download -json "${pins[@]}" "${extra[@]}" | python3 -c '
import json, sys
text, decoder, pos, dirs, failed = sys.stdin.read(), json.JSONDecoder(), 0, {}, False
while True:
    while pos < len(text) and text[pos].isspace():
        pos += 1
    if pos == len(text):
        break
    info, pos = decoder.raw_decode(text, pos)
    key = info["Path"] + "@" + info["Version"]
    if info.get("Error") or not info.get("Dir"):
        print("fetch.sh: %s: %s" % (key, info.get("Error") or "no Dir"), file=sys.stderr)
        failed = True
    else:
        dirs[key] = info["Dir"]
json.dump(dirs, sys.stdout, indent=2, sort_keys=True)
print()
sys.exit(1 if failed else 0)
'
