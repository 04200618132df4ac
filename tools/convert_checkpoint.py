#!/usr/bin/env python3
"""Convert the authors' PyTorch checkpoint (a state_dict saved with torch.save, .pt / .pth) into
abbe's safetensors weights.

    python3 tools/convert_checkpoint.py IN.pth OUT.safetensors [--net dpa_tisr]

Needs PyTorch (Debian: /usr/bin/python3 with python3-torch). abbe uses the reference's parameter
names, so the conversion only unwraps the dict ({"state_dict": ...}, {"params": ...}, mmedit's
"generator." prefix, DataParallel's "module." prefix), drops entries that are not tensors or are
training bookkeeping (num_batches_tracked), and writes every tensor as float32 in safetensors
(written atomically: a temp file, then a rename). List what abbe expects with
`abbe model info --net dpa_tisr [config flags]` and load the result with
`abbe infer --net dpa_tisr --weights OUT.safetensors ...` (a missing or extra name is an error
there, naming it).
"""
import argparse
import json
import os
import struct
import sys

PREFIXES = ("module.", "generator.", "net_g.")


def unwrap(obj):
    """The state dict inside whatever torch.save wrote."""
    for key in ("state_dict", "params", "params_ema", "model", "generator"):
        if isinstance(obj, dict) and key in obj and isinstance(obj[key], dict):
            return unwrap(obj[key])
    return obj


def clean_name(name):
    changed = True
    while changed:
        changed = False
        for p in PREFIXES:
            if name.startswith(p):
                name, changed = name[len(p):], True
    return name


def write_safetensors(path, tensors, metadata):
    """tensors: list of (name, float32 C-contiguous numpy array)."""
    header, offset, blobs = {}, 0, []
    for name, a in tensors:
        data = a.tobytes()
        header[name] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    header["__metadata__"] = metadata
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("input", help="PyTorch checkpoint (.pt/.pth)")
    ap.add_argument("output", help="safetensors file to write")
    ap.add_argument("--net", default="dpa_tisr", help="recorded in the metadata (default dpa_tisr)")
    args = ap.parse_args()
    try:
        import torch
    except ImportError:
        sys.exit("convert_checkpoint: PyTorch is needed to read .pth files (Debian: apt-get install python3-torch, "
                 "then run with /usr/bin/python3)")
    if not os.path.exists(args.input):
        sys.exit(f"convert_checkpoint: {args.input}: no such file")
    try:
        obj = torch.load(args.input, map_location="cpu")
    except Exception as e:  # a corrupt or foreign file: say which
        sys.exit(f"convert_checkpoint: {args.input}: not a PyTorch checkpoint ({e})")
    state = unwrap(obj)
    if not isinstance(state, dict):
        sys.exit(f"convert_checkpoint: {args.input}: holds a {type(state).__name__}, not a state dict")
    tensors, skipped = [], []
    for name, t in state.items():
        if not torch.is_tensor(t) or name.endswith("num_batches_tracked"):
            skipped.append(name)
            continue
        if not t.is_floating_point():
            sys.exit(f"convert_checkpoint: {name} has dtype {t.dtype}; abbe's weights are floating point")
        tensors.append((clean_name(name), t.detach().to(torch.float32).contiguous().numpy()))
    if not tensors:
        sys.exit(f"convert_checkpoint: {args.input}: no tensors found")
    names = [n for n, _ in tensors]
    if len(set(names)) != len(names):
        sys.exit("convert_checkpoint: two entries map to one name after removing prefixes")
    write_safetensors(args.output, tensors, {"format": "abbe-weights", "net": args.net,
                                             "source": os.path.basename(args.input)})
    count = sum(a.size for _, a in tensors)
    print(f"wrote {args.output}: {len(tensors)} tensors, {count} values"
          + (f" (skipped {len(skipped)}: {', '.join(skipped[:5])}{'...' if len(skipped) > 5 else ''})" if skipped else ""))


if __name__ == "__main__":
    main()
