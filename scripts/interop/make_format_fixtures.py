#!/usr/bin/python3
"""Writes the checkpoint-format fixtures of test/interop/formats (issue #17, part A).

Run from the repository root with Debian's PyTorch (CI does not need it; the outputs are committed):

    apt-get install -y python3-torch
    /usr/bin/python3 scripts/interop/make_format_fixtures.py

Outputs, in test/fixtures/interop/formats/ (each a few KB):
  nested.pt           torch.save of {'model': state_dict (OrderedDict with _metadata), 'optimizer': {...},
                      'epoch': 7, ...}: F32/F16/BF16/F64 tensors, a transposed (non-contiguous) view, two views of
                      one shared storage at offsets, a scalar, an nn.Parameter.
  module_prefix.pt    a DataParallel-style state dict ('module.' on every key) with an int64 buffer.
  legacy.pt           the same kind of dict saved with _use_new_zipfile_serialization=False (PyTorch < 1.6 format;
                      its storage keys are Python object ids, so its bytes differ from run to run, its values not).
  deflated.pt         nested.pt re-zipped with deflate (torch.load reads it too; checked below).
  spec.safetensors    safetensors bytes written here by hand following the format's specification (Debian has no
                      python3-safetensors), laid out as the Python library lays them out.
  evil_system.pt      a torch.save zip whose pickle calls os.system (refused: global 'posix.system').
  evil_eval.pt        a torch.save zip whose pickle calls builtins.eval.
  expected.json       for each fixture: name -> {shape, dtype, values}, values as float32 → float lists
                      (non-finite values as the strings 'Infinity', '-Infinity', 'NaN').
"""
import collections
import io
import json
import math
import os
import struct
import zipfile

import torch

OUT = os.path.join(os.path.dirname(__file__), '..', '..', 'test', 'fixtures', 'interop', 'formats')
os.makedirs(OUT, exist_ok=True)
torch.manual_seed(17)

DTYPE_NAMES = {torch.float32: 'F32', torch.float16: 'F16', torch.bfloat16: 'BF16', torch.float64: 'F64', torch.int64: 'I64'}


def describe(sd):
    """name -> {shape, dtype, values (as float32, row-major)} of a flat dict of tensors."""
    out = {}
    for k, t in sd.items():
        t = t.detach()
        out[k] = {
            'shape': list(t.shape),
            'dtype': DTYPE_NAMES[t.dtype],
            # JSON has no infinities or NaN: those are written as the strings 'Infinity', '-Infinity', 'NaN'.
            'values': [x if math.isfinite(x) else repr(x).replace('inf', 'Infinity').replace('nan', 'NaN')
                       for x in (float(v) for v in t.to(torch.float32).contiguous().reshape(-1).tolist())],
        }
    return out


expected = {}

# --- nested.pt: a training checkpoint with a real module's state dict plus tricky tensors ---
net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.LayerNorm(3))
sd = net.state_dict()  # OrderedDict with _metadata (pickled as BUILD state)
assert hasattr(sd, '_metadata')
sd['half'] = torch.tensor([1.0, -2.0, 0.333251953125, 65504.0, 6e-8, float('inf')], dtype=torch.float16)
sd['bf16'] = torch.randn(2, 3).to(torch.bfloat16)
sd['f64'] = torch.tensor([0.1, -1e-3, 3.0], dtype=torch.float64)
sd['transposed'] = torch.arange(12, dtype=torch.float32).reshape(3, 4).t()  # shape [4, 3], stride (1, 4)
assert not sd['transposed'].is_contiguous()
shared = torch.randn(20)
sd['shared_a'] = shared[2:8].view(2, 3)  # storage offset 2
sd['shared_b'] = shared[10:20].view(5, 2)[:, 1]  # offset 11, stride 2
assert sd['shared_a'].storage_offset() == 2 and sd['shared_b'].stride() == (2,)
sd['scalar'] = torch.tensor(2.5)
sd['param'] = torch.nn.Parameter(torch.randn(3))
checkpoint = {
    'model': sd,
    'optimizer': {'state': {0: {'step': torch.tensor(5), 'exp_avg': torch.zeros(3)}}, 'param_groups': [{'lr': 0.001}]},
    'epoch': 7,
    'name': 'vit-tiny',
    'dtype': torch.float16,
    'shape': (1, 2),
}
buf = io.BytesIO()
torch.save(checkpoint, buf)
open(os.path.join(OUT, 'nested.pt'), 'wb').write(buf.getvalue())
expected['nested.pt'] = describe(sd)
expected['nested.pt#optimizer.state.0'] = describe(checkpoint['optimizer']['state'][0])

# --- deflated.pt: nested.pt with every entry deflated ---
src = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
dbuf = io.BytesIO()
with zipfile.ZipFile(dbuf, 'w', compression=zipfile.ZIP_DEFLATED) as dst:
    for info in src.infolist():
        fixed = zipfile.ZipInfo(info.filename, date_time=(2020, 1, 1, 0, 0, 0))  # reproducible bytes
        fixed.compress_type = zipfile.ZIP_DEFLATED
        dst.writestr(fixed, src.read(info.filename))
open(os.path.join(OUT, 'deflated.pt'), 'wb').write(dbuf.getvalue())
back = torch.load(io.BytesIO(dbuf.getvalue()))
assert torch.equal(back['model']['transposed'], sd['transposed'])

# --- module_prefix.pt: DataParallel keys, an int64 buffer ---
dp = collections.OrderedDict()
dp['module.0.weight'] = torch.randn(2, 2)
dp['module.0.bias'] = torch.randn(2).to(torch.float16)
dp['module.1.num_batches_tracked'] = torch.tensor(3)
buf = io.BytesIO()
torch.save(dp, buf)
open(os.path.join(OUT, 'module_prefix.pt'), 'wb').write(buf.getvalue())
expected['module_prefix.pt'] = describe(dp)

# --- legacy.pt: the pre-1.6 format ---
legacy = collections.OrderedDict()
legacy['w'] = torch.randn(3, 2)
legacy['t'] = torch.randn(2, 3).t()
base = torch.randn(8)
legacy['v1'] = base[1:4]
legacy['v2'] = base[4:8].view(2, 2)
legacy['h'] = torch.tensor([0.5, -0.25], dtype=torch.float16)
buf = io.BytesIO()
torch.save(legacy, buf, _use_new_zipfile_serialization=False)
open(os.path.join(OUT, 'legacy.pt'), 'wb').write(buf.getvalue())
expected['legacy.pt'] = describe(legacy)

# --- spec.safetensors: by hand, per the specification and the Python library's layout ---
st = collections.OrderedDict()
st['b.weight'] = torch.randn(3, 2)
st['a.half'] = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float16)
st['c.bf16'] = torch.tensor([1.0, -3.140625, 2 ** -10], dtype=torch.bfloat16)
st['d.f64'] = torch.tensor([[0.1, 0.2]], dtype=torch.float64)
st['position_ids'] = torch.arange(4)
dtype_order = {'I64': 9, 'F64': 8, 'F32': 7, 'BF16': 6, 'F16': 5}  # the Rust library's Dtype enum order (it sorts descending, then by name)
items = sorted(st.items(), key=lambda kv: (-dtype_order[DTYPE_NAMES[kv[1].dtype]], kv[0]))
header = {'__metadata__': {'format': 'pt', 'source': 'make_format_fixtures.py'}}
data = b''
for k, t in items:
    raw = t.contiguous().view(torch.uint8).numpy().tobytes() if t.dtype == torch.bfloat16 else t.contiguous().numpy().astype(t.numpy().dtype.newbyteorder('<')).tobytes()
    header[k] = {'dtype': DTYPE_NAMES[t.dtype], 'shape': list(t.shape), 'data_offsets': [len(data), len(data) + len(raw)]}
    data += raw
hjson = json.dumps(header, separators=(',', ':')).encode()
hjson += b' ' * ((8 - len(hjson) % 8) % 8)
open(os.path.join(OUT, 'spec.safetensors'), 'wb').write(struct.pack('<Q', len(hjson)) + hjson + data)
expected['spec.safetensors'] = describe(st)
expected['spec.safetensors#order'] = [k for k, _ in items]


# --- malicious pickles inside real torch.save archives ---
class CallsSystem:
    def __reduce__(self):
        return (os.system, ('echo pwned',))


class CallsEval:
    def __reduce__(self):
        return (eval, ('1+1',))


for fname, obj in [('evil_system.pt', CallsSystem()), ('evil_eval.pt', CallsEval())]:
    buf = io.BytesIO()
    torch.save({'weight': torch.ones(2), 'payload': obj}, buf)
    open(os.path.join(OUT, fname), 'wb').write(buf.getvalue())

with open(os.path.join(OUT, 'expected.json'), 'w') as f:
    json.dump({'torch': torch.__version__, 'fixtures': expected}, f, indent=1, allow_nan=False)
    f.write('\n')
for name in sorted(os.listdir(OUT)):
    print(f'{name}: {os.path.getsize(os.path.join(OUT, name))} bytes')
