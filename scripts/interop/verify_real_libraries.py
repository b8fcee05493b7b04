#!/usr/bin/env python3
"""Loads the committed ViT fixtures of issue #17 into the REAL timm and Hugging Face transformers classes (which the
fixture generator, running with Debian's torch/torchvision only, cannot import) and checks the logits.

Needs: python3 with torch (2.x), timm, transformers (4.x or 5.x) and, optionally, safetensors (a built-in reader is
used without it) and torchvision. CPU is enough; it takes seconds. Run from anywhere:

    python3 scripts/interop/verify_real_libraries.py

Hugging Face has two namings of ViTForImageClassification's parameters (vit-tfjs layouts 'hf' and 'hf-v5'):
- the Hub checkpoints' (google/vit-*) and transformers 4.x's: vit.encoder.layer.N.attention.attention.{query,key,value},
  attention.output.dense, intermediate.dense, output.dense, layernorm_before/after (fixtures hf-a,
  exported-hf);
- transformers 5.x's: vit.layers.N.attention.{q_proj,k_proj,v_proj,o_proj}, mlp.fc1, mlp.fc2, layernorm_before/after
  (fixtures hf-v5-a, exported-hf-v5).
Which one the installed transformers uses is read from its own state_dict() (and printed), not guessed from its
version.

Checks (each prints its max |difference|; the script exits 1 if any check fails or errors):
1. timm-a.safetensors → timm VisionTransformer(...).load_state_dict(strict=True); the state_dict() key list (names and
   order) is compared with the fixture's (different names fail, a different order is only reported); logits equal the
   torchvision logits of cases.json.
2. The fixture in the installed transformers' own naming (hf-a with 4.x, hf-v5-a with 5.x) →
   ViTForImageClassification(ViTConfig(...)).load_state_dict(strict=True); same checks.
3. Hub names as users load them: config.json (ViTConfig.save_pretrained) + hf-a.safetensors as model.safetensors in a
   temporary folder → ViTForImageClassification.from_pretrained(folder, output_loading_info=True); no missing,
   unexpected or mismatched keys (transformers 5.x must rename the old names on load); logits equal. With 5.x the
   hf-v5-a fixture is loaded the same way too.
4. tv-a.safetensors → torchvision VisionTransformer (sanity; skipped if torchvision is missing).
5. exported-*.safetensors (written by vit-tfjs's exportViTCheckpoint, see test/interop/models/training.test.ts) →
   the real classes: torchvision and timm with strict=True; HF in its own naming with strict=True
   (exported-hf with 4.x, exported-hf-v5 with 5.x) and exported-hf through from_pretrained (and exported-hf-v5 too
   with 5.x). Logits equal vit-tfjs's (exported-logits.json). The exported model has LayerNorm epsilon 1e-6 (it came
   from torchvision), so the HF model is built with layer_norm_eps=1e-6.
All forward passes run in float64 on the float32 weights; tolerance 1e-6 against float64 references and 1e-4 against
vit-tfjs's float32 logits.
"""
import json
import os
import shutil
import sys
import tempfile
import traceback
from collections import OrderedDict

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from safetensors_io import read_safetensors  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), '..', '..'))
FIX = os.path.join(ROOT, 'test', 'fixtures', 'interop', 'models')
failures = []
results = []


def load_safetensors(path):
    return read_safetensors(path, prefer_library=True)


def to_input(pixels, mean, std):
    x = torch.tensor(pixels, dtype=torch.float64).permute(0, 3, 1, 2) / 255.0
    return (x - torch.tensor(mean, dtype=torch.float64).view(1, 3, 1, 1)) / torch.tensor(std, dtype=torch.float64).view(1, 3, 1, 1)


def timm_model(cfg, eps=1e-6):
    from functools import partial
    import torch.nn as nn
    from timm.models.vision_transformer import VisionTransformer
    return VisionTransformer(img_size=cfg['image_size'], patch_size=cfg['patch_size'], in_chans=3,
                             num_classes=cfg['num_classes'], global_pool='token', embed_dim=cfg['hidden_dim'],
                             depth=cfg['num_layers'], num_heads=cfg['num_heads'],
                             mlp_ratio=cfg['mlp_dim'] / cfg['hidden_dim'], qkv_bias=True, class_token=True,
                             norm_layer=partial(nn.LayerNorm, eps=eps))


def hf_config(cfg, eps=1e-12):
    from transformers import ViTConfig
    return ViTConfig(hidden_size=cfg['hidden_dim'], num_hidden_layers=cfg['num_layers'],
                     num_attention_heads=cfg['num_heads'], intermediate_size=cfg['mlp_dim'], hidden_act='gelu',
                     hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0, layer_norm_eps=eps,
                     image_size=cfg['image_size'], patch_size=cfg['patch_size'], num_channels=3, qkv_bias=True,
                     num_labels=cfg['num_classes'])


def hf_model(cfg, eps=1e-12):
    from transformers import ViTForImageClassification
    config = hf_config(cfg, eps)
    try:
        return ViTForImageClassification(config, attn_implementation='eager')
    except TypeError:
        return ViTForImageClassification(config)


def hf_from_pretrained(folder):
    """ViTForImageClassification.from_pretrained(folder) as a user calls it, with the loading report."""
    from transformers import ViTForImageClassification
    try:
        out = ViTForImageClassification.from_pretrained(folder, output_loading_info=True, attn_implementation='eager')
    except TypeError:
        out = ViTForImageClassification.from_pretrained(folder, output_loading_info=True)
    if isinstance(out, tuple):
        return out[0], out[1]
    return out, {}


def hf_naming(keys):
    """'hf' (Hub / transformers 4.x names) or 'hf-v5' (transformers 5.x names) of ViTForImageClassification keys."""
    if any(k.startswith('vit.layers.') for k in keys):
        return 'hf-v5'
    if any(k.startswith('vit.encoder.layer.') for k in keys):
        return 'hf'
    return None


def tv_model(cfg, eps=1e-6):
    from functools import partial
    import torch.nn as nn
    from torchvision.models.vision_transformer import VisionTransformer
    return VisionTransformer(**cfg, norm_layer=partial(nn.LayerNorm, eps=eps))


def run(model, x, kind):
    model = model.to(torch.float64).eval()
    with torch.no_grad():
        out = model(pixel_values=x) if kind == 'hf' else model(x)
    return out.logits if kind == 'hf' else out


def compare(label, got, expected, tol):
    diff = (got - torch.tensor(expected, dtype=torch.float64)).abs().max().item()
    ok = diff <= tol  # False for NaN
    print(f'    max |logits - expected| = {diff:.3g} (tolerance {tol:g}): {"ok" if ok else "MISMATCH"}')
    results.append((label, diff, ok))
    if not ok:
        failures.append(f'{label}: logits differ by {diff:.3g}')


def fixture_path(weights_file):
    path = os.path.join(FIX, weights_file)
    if not os.path.exists(path):
        raise FileNotFoundError(f'{path} is missing (see scripts/interop/make_vit_fixtures.py and '
                                'VIT_WRITE_EXPORT_FIXTURES=1 npx jest test/interop/models/training)')
    return path


def check(label, make, kind, weights_file, pixels, mean, std, expected, tol, fixture_keys=None):
    """load_state_dict(strict=True) into a freshly built real model, then the logits."""
    print(f'--- {label}')
    try:
        model = make()
        sd = load_safetensors(fixture_path(weights_file))
        own = list(model.state_dict().keys())
        if fixture_keys is None:
            fixture_keys = list(sd.keys())
            same = sorted(own) == sorted(fixture_keys)
            print(f'    state_dict() key names equal the file\'s: {same}')
        else:
            same = own == fixture_keys
            print(f'    state_dict() keys equal the fixture\'s, in order: {same}')
        if not same:
            print(f'    only in the model: {sorted(set(own) - set(fixture_keys))}')
            print(f'    only in the fixture: {sorted(set(fixture_keys) - set(own))}')
            if set(own) != set(fixture_keys):
                failures.append(f'{label}: key names differ')
            else:
                print(f'    (same names, another order; the model\'s: {own})')
        model.load_state_dict(sd, strict=True)
        print('    load_state_dict(strict=True): ok')
        compare(label, run(model, to_input(pixels, mean, std), kind), expected, tol)
    except Exception:  # noqa: BLE001 - report everything, keep going
        traceback.print_exc()
        failures.append(f'{label}: error')


def check_from_pretrained(label, cfg, eps, weights_file, pixels, mean, std, expected, tol):
    """config.json + model.safetensors in a folder → ViTForImageClassification.from_pretrained(folder)."""
    print(f'--- {label}')
    try:
        src = fixture_path(weights_file)
        with tempfile.TemporaryDirectory() as folder:
            hf_config(cfg, eps).save_pretrained(folder)
            shutil.copyfile(src, os.path.join(folder, 'model.safetensors'))
            model, info = hf_from_pretrained(folder)
            problems = {k: v for k, v in (info or {}).items()
                        if k in ('missing_keys', 'unexpected_keys', 'mismatched_keys', 'error_msgs') and v}
            if problems:
                for k, v in problems.items():
                    print(f'    {k}: {sorted(map(str, v))}')
                failures.append(f'{label}: from_pretrained reported {", ".join(problems)}')
            else:
                print('    from_pretrained: no missing, unexpected or mismatched keys')
            # The loaded weights are the file's: the classifier (named alike in both namings) bit for bit.
            file_sd = load_safetensors(src)
            own = model.state_dict()
            print(f'    the loaded model names its blocks as {hf_naming(own.keys())}; the file as {hf_naming(file_sd.keys())}')
            if not torch.equal(own['classifier.weight'].to(torch.float32), file_sd['classifier.weight']):
                failures.append(f'{label}: classifier.weight is not the file\'s')
            compare(label, run(model, to_input(pixels, mean, std), 'hf'), expected, tol)
    except Exception:  # noqa: BLE001
        traceback.print_exc()
        failures.append(f'{label}: error')


def main():
    print(f'torch {torch.__version__}')
    versions = {}
    for mod in ('timm', 'transformers', 'torchvision', 'safetensors'):
        try:
            versions[mod] = __import__(mod).__version__
            print(f'{mod} {versions[mod]}')
        except Exception as e:  # noqa: BLE001
            print(f'{mod}: not available ({e})')
    with open(os.path.join(FIX, 'cases.json')) as f:
        cases = json.load(f)
    for name in ('timm-a', 'hf-a', 'hf-v5-a', 'tv-a'):
        if name not in cases:
            failures.append(f'cases.json has no {name!r} (regenerate: scripts/interop/make_vit_fixtures.py)')

    if 'timm-a' in cases:
        c = cases['timm-a']
        check('timm-a.safetensors → timm VisionTransformer, strict', lambda: timm_model(c['config']), 'timm',
              'timm-a.safetensors', c['pixels'], c['mean'], c['std'], c['logits'], 1e-6, c['keys'])

    # Which naming the installed transformers uses, from its own state_dict().
    native = None
    try:
        native = hf_naming(hf_model(cases['hf-a']['config']).state_dict().keys())
        print(f'--- transformers {versions.get("transformers")}: ViTForImageClassification.state_dict() uses the '
              f'{ {"hf": "Hub / 4.x (hf)", "hf-v5": "5.x (hf-v5)"}.get(native, "UNKNOWN")} names')
        if native is None:
            failures.append('transformers: ViTForImageClassification has neither vit.encoder.layer.* nor vit.layers.* keys')
    except Exception:  # noqa: BLE001
        traceback.print_exc()
        failures.append('transformers: cannot build ViTForImageClassification')

    if native is not None:
        own_case = 'hf-a' if native == 'hf' else 'hf-v5-a'
        if own_case in cases:
            c = cases[own_case]
            check(f'{own_case}.safetensors → transformers ViTForImageClassification, load_state_dict strict',
                  lambda: hf_model(c['config']), 'hf', f'{own_case}.safetensors', c['pixels'], c['mean'], c['std'],
                  c['logits'], 1e-6, c['keys'])
        for name in (['hf-a'] if native == 'hf' else ['hf-a', 'hf-v5-a']):
            if name in cases:
                c = cases[name]
                check_from_pretrained(f'{name}.safetensors ({c["layout"]} names) → ViTForImageClassification.from_pretrained',
                                      c['config'], c['layerNormEpsilon'], f'{name}.safetensors', c['pixels'], c['mean'],
                                      c['std'], c['logits'], 1e-6)
        if native == 'hf':
            print('--- transformers 4.x: the 5.x names (hf-v5-a, exported-hf-v5) are not loadable there, skipped')

    c = cases.get('tv-a')
    try:
        import torchvision  # noqa: F401
        if c is not None:
            check('tv-a.safetensors → torchvision VisionTransformer, strict', lambda: tv_model(c['config']),
                  'torchvision', 'tv-a.safetensors', c['pixels'], c['mean'], c['std'], c['logits'], 1e-6, c['keys'])
    except ImportError:
        print('--- torchvision not installed: tv-a skipped')

    exported = os.path.join(FIX, 'exported-logits.json')
    if not os.path.exists(exported):
        failures.append('exported-logits.json is missing (VIT_WRITE_EXPORT_FIXTURES=1 npx jest test/interop/models/training)')
    else:
        with open(exported) as f:
            e = json.load(f)
        ecfg = e['config']
        eps = e.get('layerNormEpsilon', 1e-6)
        strict = [('timm', 'timm', lambda: timm_model(ecfg, eps))]
        try:
            import torchvision  # noqa: F401
            strict.insert(0, ('torchvision', 'torchvision', lambda: tv_model(ecfg, eps)))
        except ImportError:
            print('--- torchvision not installed: exported-torchvision skipped')
        if native is not None:
            strict.append((native, 'hf', lambda: hf_model(ecfg, eps)))
        for layout, kind, make in strict:
            check(f'exported-{layout}.safetensors (vit-tfjs exportViTCheckpoint) → real {kind}, strict', make, kind,
                  f'exported-{layout}.safetensors', e['pixels'], e['mean'], e['std'], e['logits'], 1e-4)
        if native is not None:
            for layout in (['hf'] if native == 'hf' else ['hf', 'hf-v5']):
                check_from_pretrained(f'exported-{layout}.safetensors (vit-tfjs exportViTCheckpoint) → '
                                      'ViTForImageClassification.from_pretrained', ecfg, eps,
                                      f'exported-{layout}.safetensors', e['pixels'], e['mean'], e['std'], e['logits'], 1e-4)

    print()
    print('summary (max |logits - expected|):')
    for label, diff, ok in results:
        print(f'  {"ok  " if ok else "FAIL"} {diff:.3g}  {label}')
    print()
    if failures:
        print('FAILED:')
        for f in failures:
            print(f'  {f}')
        sys.exit(1)
    print('all checks passed')


if __name__ == '__main__':
    main()
