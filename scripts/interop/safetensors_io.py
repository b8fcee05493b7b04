"""safetensors for the interop scripts, by hand (Debian has no python3-safetensors): an 8-byte little-endian header
length, the JSON header (padded with spaces to a multiple of 8), then the little-endian buffers. F32 only. Reads
with the `safetensors` package instead when it is installed (`prefer_library=True`)."""
import json
import struct
from collections import OrderedDict

import torch


def write_safetensors(path, tensors, metadata=None):
    header = {}
    blobs = []
    offset = 0
    for name, t in tensors.items():
        t = t.detach().to(torch.float32).contiguous().cpu()
        data = t.numpy().astype('<f4').tobytes()
        header[name] = {'dtype': 'F32', 'shape': list(t.shape), 'data_offsets': [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    if metadata:
        header['__metadata__'] = metadata
    text = json.dumps(header, separators=(',', ':')).encode('utf-8')
    text += b' ' * ((8 - len(text) % 8) % 8)
    with open(path, 'wb') as f:
        f.write(struct.pack('<Q', len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def read_safetensors(path, prefer_library=False):
    if prefer_library:
        try:
            from safetensors.torch import load_file
            return OrderedDict(load_file(path))
        except ImportError:
            pass
    import numpy as np
    with open(path, 'rb') as f:
        raw = f.read()
    (n,) = struct.unpack('<Q', raw[:8])
    header = json.loads(raw[8:8 + n].decode('utf-8'))
    body = raw[8 + n:]
    out = OrderedDict()
    for name, info in header.items():
        if name == '__metadata__':
            continue
        if info['dtype'] != 'F32':
            raise SystemExit(f'{path}: {name} has dtype {info["dtype"]}, expected F32')
        s, e = info['data_offsets']
        arr = np.frombuffer(body[s:e], dtype='<f4').reshape(info['shape'])
        out[name] = torch.from_numpy(arr.copy())
    return out
