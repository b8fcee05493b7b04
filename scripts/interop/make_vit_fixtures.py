#!/usr/bin/env python3
"""Fixtures of issue #17 (part B): PyTorch ViT checkpoints, their logits, position-embedding resampling and an
AdamW training trajectory, all computed by the real PyTorch/torchvision, for test/interop/models.

Run with Debian's PyTorch (no pip needed; CI does not need it, the outputs are committed):

    apt-get install -y python3-torch python3-torchvision
    /usr/bin/python3 scripts/interop/make_vit_fixtures.py            # writes test/fixtures/interop/models/*
    /usr/bin/python3 scripts/interop/make_vit_fixtures.py --hf-v5
        # writes only hf-v5-a.safetensors (hf-a.safetensors renamed, see hf_to_hf_v5) and its entry of cases.json,
        # leaving every other fixture as it is
    /usr/bin/python3 scripts/interop/make_vit_fixtures.py --verify-exported
        # loads the safetensors that vit-tfjs exported (test/fixtures/interop/models/exported-torchvision.safetensors,
        # written by `VIT_WRITE_EXPORT_FIXTURES=1 npx jest test/interop/models/export`) into torchvision's
        # VisionTransformer with load_state_dict(strict=True) and compares its logits with the ones vit-tfjs
        # computed (exported-logits.json); exits 1 on a mismatch.

Everything is seeded: a rerun writes the same numbers (torch.save's zip may differ in timestamps).

What is written (test/fixtures/interop/models/):
- tv-a/b/c.pth (torch.save(model.state_dict())) and tv-a/b/c.safetensors: torchvision VisionTransformer, random
  weights (every parameter drawn at random, so biases, LayerNorm scales/offsets, class token and head are not at
  their init values);
- timm-a.safetensors: tv-a's weights renamed/reshaped to timm's VisionTransformer layout (see TIMM_KEYS);
- hf-a.safetensors: tv-a's weights in Hugging Face ViTForImageClassification's layout, under the names of the Hub
  checkpoints and of transformers 4.x (see tv_to_hf);
- hf-v5-a.safetensors: hf-a's tensors under transformers 5.x's names (see hf_to_hf_v5): same weights, same logits;
- cases.json: per checkpoint the architecture, the preprocessing, input images (NHWC pixel values 0-255) and the
  logits the model gives (float64 and float32 forward passes);
- resample.json: position embeddings resampled by torch.nn.functional.interpolate (bicubic; the variants timm,
  torchvision and Hugging Face use);
- training.json: 20 torch.optim.AdamW steps from tv-a's weights on fixed batches: the loss of every step.
"""
import base64
import json
import math
import os
import sys
from collections import OrderedDict
from functools import partial

import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.models.vision_transformer import VisionTransformer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_io import read_safetensors, write_safetensors  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
OUT = os.path.join(ROOT, 'test', 'fixtures', 'interop', 'models')

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
HALF = [0.5, 0.5, 0.5]

# Small torchvision configurations (each checkpoint file well under 200 KB).
CONFIGS = {
    'tv-a': dict(image_size=32, patch_size=8, num_layers=2, num_heads=2, hidden_dim=32, mlp_dim=64, num_classes=10),
    'tv-b': dict(image_size=24, patch_size=6, num_layers=1, num_heads=3, hidden_dim=24, mlp_dim=48, num_classes=5),
    'tv-c': dict(image_size=16, patch_size=4, num_layers=3, num_heads=4, hidden_dim=16, mlp_dim=40, num_classes=3),
}


# ----------------------------------------------------------------------------------------------------------------
# Key layouts. torchvision: torchvision/models/vision_transformer.py (VisionTransformer, Encoder, EncoderBlock,
# MLPBlock = torchvision.ops.MLP: Linear(0), GELU(1), Dropout(2), Linear(3), Dropout(4)).
# timm: timm/models/vision_transformer.py (VisionTransformer: patch_embed = PatchEmbed(proj = Conv2d), cls_token,
# pos_embed [1, 1 + N, D], blocks.i = Block(norm1, attn = Attention(qkv = Linear(D, 3D), proj), norm2,
# mlp = Mlp(fc1, fc2)), norm, head; qkv's rows are q, k, v, each head-major, as torchvision's in_proj).
# Hugging Face: transformers/models/vit/modeling_vit.py (ViTForImageClassification: vit = ViTModel without pooler,
# embeddings.{cls_token, position_embeddings, patch_embeddings.projection}, encoder.layer.i.{layernorm_before,
# attention.attention.{query,key,value}, attention.output.dense, layernorm_after, intermediate.dense, output.dense},
# layernorm, classifier).
# ----------------------------------------------------------------------------------------------------------------


def tv_to_timm(sd, depth):
    out = OrderedDict()
    out['cls_token'] = sd['class_token']
    out['pos_embed'] = sd['encoder.pos_embedding']
    out['patch_embed.proj.weight'] = sd['conv_proj.weight']
    out['patch_embed.proj.bias'] = sd['conv_proj.bias']
    for i in range(depth):
        s = f'encoder.layers.encoder_layer_{i}.'
        t = f'blocks.{i}.'
        out[t + 'norm1.weight'] = sd[s + 'ln_1.weight']
        out[t + 'norm1.bias'] = sd[s + 'ln_1.bias']
        out[t + 'attn.qkv.weight'] = sd[s + 'self_attention.in_proj_weight']
        out[t + 'attn.qkv.bias'] = sd[s + 'self_attention.in_proj_bias']
        out[t + 'attn.proj.weight'] = sd[s + 'self_attention.out_proj.weight']
        out[t + 'attn.proj.bias'] = sd[s + 'self_attention.out_proj.bias']
        out[t + 'norm2.weight'] = sd[s + 'ln_2.weight']
        out[t + 'norm2.bias'] = sd[s + 'ln_2.bias']
        out[t + 'mlp.fc1.weight'] = sd[s + 'mlp.0.weight']
        out[t + 'mlp.fc1.bias'] = sd[s + 'mlp.0.bias']
        out[t + 'mlp.fc2.weight'] = sd[s + 'mlp.3.weight']
        out[t + 'mlp.fc2.bias'] = sd[s + 'mlp.3.bias']
    out['norm.weight'] = sd['encoder.ln.weight']
    out['norm.bias'] = sd['encoder.ln.bias']
    out['head.weight'] = sd['heads.head.weight']
    out['head.bias'] = sd['heads.head.bias']
    return out


# transformers 5.x renamed ViTLayer's parameters (ViTForImageClassification(...).state_dict() of 5.x):
# vit.encoder.layer.i.attention.attention.{query,key,value} -> vit.layers.i.attention.{q_proj,k_proj,v_proj},
# attention.output.dense -> attention.o_proj, intermediate.dense -> mlp.fc1, output.dense -> mlp.fc2;
# layernorm_before/after, the embeddings, vit.layernorm and classifier keep their names. The order is kept.
HF_V5_BLOCK_RENAMES = (
    ('attention.attention.query.', 'attention.q_proj.'),
    ('attention.attention.key.', 'attention.k_proj.'),
    ('attention.attention.value.', 'attention.v_proj.'),
    ('attention.output.dense.', 'attention.o_proj.'),
    ('intermediate.dense.', 'mlp.fc1.'),
    ('output.dense.', 'mlp.fc2.'),
)


def hf_to_hf_v5(sd):
    import re
    out = OrderedDict()
    for key, value in sd.items():
        m = re.match(r'^((?:vit\.)?)encoder\.layer\.(\d+)\.(.*)$', key)
        if m:
            rest = m.group(3)
            for old, new in HF_V5_BLOCK_RENAMES:
                if rest.startswith(old):
                    rest = new + rest[len(old):]
                    break
            key = f'{m.group(1)}layers.{m.group(2)}.{rest}'
        out[key] = value
    return out


def make_hf_v5(cases):
    """hf-v5-a: hf-a.safetensors (read back from disk, so its values are exactly the committed ones) renamed to
    transformers 5.x's keys; its case copies hf-a's (same images, same expected logits)."""
    sd = hf_to_hf_v5(read_safetensors(os.path.join(OUT, 'hf-a.safetensors')))
    write_safetensors(os.path.join(OUT, 'hf-v5-a.safetensors'), sd,
                      {'format': 'pt', 'source': 'HF layout of tv-a, transformers 5.x names'})
    c = dict(cases['hf-a'])
    c.update(layout='hf-v5', files=['hf-v5-a.safetensors'], keys=list(sd.keys()),
             shapes={k: list(v.shape) for k, v in sd.items()})
    cases['hf-v5-a'] = c
    return cases


def tv_to_hf(sd, depth, dim):
    out = OrderedDict()
    p = 'vit.'
    out[p + 'embeddings.cls_token'] = sd['class_token']
    out[p + 'embeddings.position_embeddings'] = sd['encoder.pos_embedding']
    out[p + 'embeddings.patch_embeddings.projection.weight'] = sd['conv_proj.weight']
    out[p + 'embeddings.patch_embeddings.projection.bias'] = sd['conv_proj.bias']
    for i in range(depth):
        s = f'encoder.layers.encoder_layer_{i}.'
        t = f'{p}encoder.layer.{i}.'
        # In ViTLayer's registration order (attention, intermediate, output, layernorm_before, layernorm_after), as
        # state_dict() lists them.
        w = sd[s + 'self_attention.in_proj_weight']
        b = sd[s + 'self_attention.in_proj_bias']
        for j, name in enumerate(['query', 'key', 'value']):
            out[t + f'attention.attention.{name}.weight'] = w[j * dim:(j + 1) * dim].clone()
            out[t + f'attention.attention.{name}.bias'] = b[j * dim:(j + 1) * dim].clone()
        out[t + 'attention.output.dense.weight'] = sd[s + 'self_attention.out_proj.weight']
        out[t + 'attention.output.dense.bias'] = sd[s + 'self_attention.out_proj.bias']
        out[t + 'intermediate.dense.weight'] = sd[s + 'mlp.0.weight']
        out[t + 'intermediate.dense.bias'] = sd[s + 'mlp.0.bias']
        out[t + 'output.dense.weight'] = sd[s + 'mlp.3.weight']
        out[t + 'output.dense.bias'] = sd[s + 'mlp.3.bias']
        out[t + 'layernorm_before.weight'] = sd[s + 'ln_1.weight']
        out[t + 'layernorm_before.bias'] = sd[s + 'ln_1.bias']
        out[t + 'layernorm_after.weight'] = sd[s + 'ln_2.weight']
        out[t + 'layernorm_after.bias'] = sd[s + 'ln_2.bias']
    out[p + 'layernorm.weight'] = sd['encoder.ln.weight']
    out[p + 'layernorm.bias'] = sd['encoder.ln.bias']
    out['classifier.weight'] = sd['heads.head.weight']
    out['classifier.bias'] = sd['heads.head.bias']
    return out


# ----------------------------------------------------------------------------------------------------------------
def build(cfg, eps=1e-6):
    return VisionTransformer(**cfg, norm_layer=partial(nn.LayerNorm, eps=eps))


def randomize(model, gen):
    """Every parameter at random: weights ~ N(0, 1/sqrt(fan_in)), biases and LayerNorm offsets ~ N(0, 0.1),
    LayerNorm scales ~ 1 + N(0, 0.1), class token and position embedding ~ N(0, 0.5)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith('weight') and p.dim() >= 2:
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=gen) / math.sqrt(fan_in))
            elif ('ln' in name) and name.endswith('weight'):
                p.copy_(1 + 0.1 * torch.randn(p.shape, generator=gen))
            elif name in ('class_token', 'encoder.pos_embedding'):
                p.copy_(0.5 * torch.randn(p.shape, generator=gen))
            else:
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))


def to_input(pixels_nhwc, mean, std, dtype):
    x = torch.tensor(pixels_nhwc, dtype=dtype).permute(0, 3, 1, 2) / 255.0
    m = torch.tensor(mean, dtype=dtype).view(1, 3, 1, 1)
    s = torch.tensor(std, dtype=dtype).view(1, 3, 1, 1)
    return (x - m) / s


def logits_of(cfg, state, pixels, mean, std, eps):
    out = {}
    for dtype, key in ((torch.float64, 'logits'), (torch.float32, 'logitsFloat32')):
        m = build(cfg, eps).to(dtype)
        m.load_state_dict(state, strict=True)
        m.eval()
        with torch.no_grad():
            out[key] = m(to_input(pixels, mean, std, dtype)).tolist()
    return out


def random_pixels(gen, n, size):
    return torch.randint(0, 256, (n, size, size, 3), generator=gen).tolist()


def make_checkpoints():
    cases = {}
    gen = torch.Generator().manual_seed(17)
    states = {}
    for name, cfg in CONFIGS.items():
        model = build(cfg)
        randomize(model, gen)
        sd = OrderedDict((k, v.detach().clone()) for k, v in model.state_dict().items())
        states[name] = sd
        torch.save(sd, os.path.join(OUT, f'{name}.pth'))
        write_safetensors(os.path.join(OUT, f'{name}.safetensors'), sd, {'format': 'pt', 'source': 'torchvision'})
        pixels = random_pixels(gen, 2, cfg['image_size'])
        cases[name] = dict(
            layout='torchvision', files=[f'{name}.pth', f'{name}.safetensors'], config=cfg, layerNormEpsilon=1e-6,
            mean=IMAGENET_MEAN, std=IMAGENET_STD, keys=list(sd.keys()), shapes={k: list(v.shape) for k, v in sd.items()},
            pixels=pixels, **logits_of(cfg, sd, pixels, IMAGENET_MEAN, IMAGENET_STD, 1e-6))

    # timm and Hugging Face layouts of tv-a's weights. Same math as torchvision's model: the expected logits come from
    # the torchvision model with the layout's LayerNorm epsilon (timm 1e-6, HF 1e-12) and its usual preprocessing
    # (timm's vit_* pretrained_cfg: mean = std = 0.5; google/vit-*: mean = std = 0.5).
    cfg = CONFIGS['tv-a']
    sd = states['tv-a']
    pixels = cases['tv-a']['pixels']
    timm_sd = tv_to_timm(sd, cfg['num_layers'])
    write_safetensors(os.path.join(OUT, 'timm-a.safetensors'), timm_sd, {'format': 'pt', 'source': 'timm layout of tv-a'})
    cases['timm-a'] = dict(
        layout='timm', files=['timm-a.safetensors'], config=cfg, layerNormEpsilon=1e-6, mean=HALF, std=HALF,
        keys=list(timm_sd.keys()), shapes={k: list(v.shape) for k, v in timm_sd.items()}, pixels=pixels,
        **logits_of(cfg, sd, pixels, HALF, HALF, 1e-6))
    hf_sd = tv_to_hf(sd, cfg['num_layers'], cfg['hidden_dim'])
    write_safetensors(os.path.join(OUT, 'hf-a.safetensors'), hf_sd, {'format': 'pt', 'source': 'HF layout of tv-a'})
    cases['hf-a'] = dict(
        layout='hf', files=['hf-a.safetensors'], config=cfg, layerNormEpsilon=1e-12, mean=HALF, std=HALF,
        keys=list(hf_sd.keys()), shapes={k: list(v.shape) for k, v in hf_sd.items()}, pixels=pixels,
        **logits_of(cfg, sd, pixels, HALF, HALF, 1e-12))
    make_hf_v5(cases)
    with open(os.path.join(OUT, 'cases.json'), 'w') as f:
        json.dump(cases, f)
    return states


def make_resample():
    gen = torch.Generator().manual_seed(3)
    d = 3
    cases = []
    for (src, dst, prefix) in (((4, 4), (6, 6), 1), ((4, 4), (3, 3), 1), ((4, 4), (3, 5), 1), ((5, 3), (7, 4), 0),
                               ((4, 4), (2, 2), 1), ((2, 2), (5, 5), 1)):
        pos = torch.randn(1, prefix + src[0] * src[1], d, generator=gen, dtype=torch.float64).to(torch.float32)
        grid = pos[:, prefix:].reshape(1, src[0], src[1], d).permute(0, 3, 1, 2)
        variants = {}
        for name, kw in (('plain', dict(antialias=False, align_corners=False)),
                         ('antialias', dict(antialias=True, align_corners=False)),
                         ('alignCorners', dict(antialias=False, align_corners=True))):
            # float64 (the reference) and float32 (what timm computes: it casts to float32 first).
            for dtype, suffix in ((torch.float64, ''), (torch.float32, 'Float32')):
                r = F.interpolate(grid.to(dtype), size=dst, mode='bicubic', **kw)
                r = r.permute(0, 2, 3, 1).reshape(1, dst[0] * dst[1], d)
                variants[name + suffix] = torch.cat([pos[:, :prefix].to(dtype), r], 1)[0].tolist()
        cases.append(dict(fromGrid=list(src), toGrid=list(dst), numPrefixTokens=prefix, input=pos[0].tolist(), **variants))
    with open(os.path.join(OUT, 'resample.json'), 'w') as f:
        json.dump(cases, f)


def make_training(states):
    """20 torch.optim.AdamW steps (lr 1e-3, weight_decay 0.05, betas (0.9, 0.999), eps 1e-8, every parameter
    decayed) from tv-a's weights, on 4 fixed batches of 4 images cycled, mean cross-entropy, no dropout."""
    cfg = CONFIGS['tv-a']
    gen = torch.Generator().manual_seed(5)
    batches = []
    for _ in range(4):
        px = torch.randint(0, 256, (4, 32, 32, 3), generator=gen, dtype=torch.uint8)
        labels = torch.randint(0, cfg['num_classes'], (4,), generator=gen)
        batches.append((px, labels))
    out = {'lr': 1e-3, 'weightDecay': 0.05, 'beta1': 0.9, 'beta2': 0.999, 'epsilon': 1e-8, 'steps': 20,
           'batches': [{'pixels': base64.b64encode(px.numpy().tobytes()).decode('ascii'), 'shape': list(px.shape),
                        'labels': lb.tolist()} for px, lb in batches]}
    for dtype, key in ((torch.float64, 'losses'), (torch.float32, 'lossesFloat32')):
        model = build(cfg).to(dtype)
        model.load_state_dict(states['tv-a'], strict=True)
        model.train()  # dropout is 0 in this configuration
        opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.05)
        losses = []
        for step in range(20):
            px, lb = batches[step % 4]
            x = to_input(px.tolist(), IMAGENET_MEAN, IMAGENET_STD, dtype)
            loss = F.cross_entropy(model(x), lb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        out[key] = losses
        if dtype == torch.float64:
            model.eval()
            with torch.no_grad():
                out['logitsAfter'] = model(to_input(batches[0][0].tolist(), IMAGENET_MEAN, IMAGENET_STD, dtype)).tolist()
    with open(os.path.join(OUT, 'training.json'), 'w') as f:
        json.dump(out, f)


def verify_exported():
    """vit-tfjs → safetensors → torchvision load_state_dict(strict=True) → logits."""
    path = os.path.join(OUT, 'exported-torchvision.safetensors')
    with open(os.path.join(OUT, 'exported-logits.json')) as f:
        ref = json.load(f)
    sd = read_safetensors(path)
    cfg = ref['config']
    model = build(cfg, ref.get('layerNormEpsilon', 1e-6)).to(torch.float64)
    model.load_state_dict(sd, strict=True)
    model.eval()
    with torch.no_grad():
        got = model(to_input(ref['pixels'], ref['mean'], ref['std'], torch.float64))
    diff = (got - torch.tensor(ref['logits'], dtype=torch.float64)).abs().max().item()
    print(f'{os.path.relpath(path, ROOT)}: torchvision load_state_dict(strict=True) ok; '
          f'max |logits(torch) - logits(vit-tfjs)| = {diff:.3g}')
    if not diff <= 1e-4:
        print('MISMATCH (tolerance 1e-4)')
        sys.exit(1)


def main():
    if '--verify-exported' in sys.argv[1:]:
        verify_exported()
        return
    if '--hf-v5' in sys.argv[1:]:
        with open(os.path.join(OUT, 'cases.json')) as f:
            cases = json.load(f)
        make_hf_v5(cases)
        with open(os.path.join(OUT, 'cases.json'), 'w') as f:
            json.dump(cases, f)
        print(f'hf-v5-a.safetensors: {os.path.getsize(os.path.join(OUT, "hf-v5-a.safetensors"))} bytes')
        return
    torch.manual_seed(0)
    os.makedirs(OUT, exist_ok=True)
    states = make_checkpoints()
    make_resample()
    make_training(states)
    for f in sorted(os.listdir(OUT)):
        print(f'{f}: {os.path.getsize(os.path.join(OUT, f))} bytes')


if __name__ == '__main__':
    main()
