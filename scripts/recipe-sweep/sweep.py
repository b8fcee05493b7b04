# Recipe sweep (issue #20): a PyTorch replica of vit-tfjs's compact ViTs (pre-norm blocks, patch embedding by a
# dense layer, learned position embedding, mean pooling or class token, LayerNorm eps 1e-6, exact GELU, standard MLP,
# drop path; Keras-style flip/rotation/zoom/translation with reflect fill) trained on CIFAR-10 with recipe variants,
# many at once on a GPU, to rank recipes for examples/cifar10's one-hour CPU run. A development tool, not part of
# the library; see examples/cifar10/README.md ("How the cpu-hour recipe was chosen") for the results.
#
#   CIFAR_BIN=<folder with data_batch_1..5.bin, test_batch.bin> PAR=8 OUT=<results folder> \
#     python3 scripts/recipe-sweep/sweep.py round2-configs.json
#
# Each config: name, epochs, model {patch, dim, depth, heads, mlp_ratio, dpr, pool}, batch, lr, schedule
# ('constant' | 'cosine' with warmup epochs), wd and wd_mode ('tfa': w -= wd·w | 'lr': torch's AdamW), exclude
# (no decay on 1-D parameters and the position embedding), ls (label smoothing), aug {flip, rotation, zoom,
# translation}, seed, val (validation fraction). Results: one JSON line per config in OUT/results.jsonl
# (validation accuracy per epoch, test top-1/top-5 of the last and of the best-validation epoch).
import json, math, os, sys, time, subprocess
import numpy as np
import torch, torch.nn as nn, torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.environ.get('OUT', '/tmp/out')


def load():
    # CIFAR-10's binary layout: records of 1 label byte + 3,072 pixel bytes (channel planes of 32×32).
    def read(names):
        raw = np.concatenate([np.fromfile(os.path.join(os.environ['CIFAR_BIN'], n), np.uint8) for n in names]).reshape(-1, 3073)
        return raw[:, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1), raw[:, 0]
    xtr, ytr = read([f'data_batch_{i}.bin' for i in range(1, 6)])
    xte, yte = read(['test_batch.bin'])
    return xtr, ytr, xte, yte


class Block(nn.Module):
    def __init__(s, d, h, mlp, dp):
        super().__init__()
        s.n1 = nn.LayerNorm(d, eps=1e-6); s.n2 = nn.LayerNorm(d, eps=1e-6)
        s.h = h; s.qkv = nn.Linear(d, 3 * d); s.proj = nn.Linear(d, d)
        s.fc1 = nn.Linear(d, mlp); s.fc2 = nn.Linear(mlp, d); s.dp = dp

    def droppath(s, x):
        if not s.training or s.dp == 0: return x
        keep = (torch.rand(x.shape[0], 1, 1, device=x.device) >= s.dp).float() / (1 - s.dp)
        return x * keep

    def forward(s, x):
        B, N, D = x.shape
        q, k, v = s.qkv(s.n1(x)).reshape(B, N, 3, s.h, D // s.h).permute(2, 0, 3, 1, 4)
        if hasattr(F, 'scaled_dot_product_attention'): a = F.scaled_dot_product_attention(q, k, v)
        else: a = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1]), -1) @ v
        a = a.transpose(1, 2).reshape(B, N, D)
        x = x + s.droppath(s.proj(a))
        return x + s.droppath(s.fc2(F.gelu(s.fc1(s.n2(x)))))


class ViT(nn.Module):
    def __init__(s, patch=4, dim=128, depth=6, heads=4, mlp_ratio=2, dpr=0.1, pool='gap', classes=10):
        super().__init__()
        s.p = patch; n = (32 // patch) ** 2; s.pool = pool
        s.embed = nn.Linear(patch * patch * 3, dim)
        s.cls = nn.Parameter(torch.zeros(1, 1, dim)) if pool == 'cls' else None
        s.pos = nn.Parameter(torch.empty(1, n + (pool == 'cls'), dim).uniform_(-0.05, 0.05))
        s.blocks = nn.ModuleList([Block(dim, heads, dim * mlp_ratio, dpr * i / max(1, depth - 1)) for i in range(depth)])
        s.norm = nn.LayerNorm(dim, eps=1e-6); s.head = nn.Linear(dim, classes)
        for m in s.modules():
            if isinstance(m, nn.Linear): nn.init.xavier_uniform_(m.weight); nn.init.zeros_(m.bias)

    def forward(s, x):  # x: B,H,W,C normalized
        B = x.shape[0]; p = s.p
        x = x.reshape(B, 32 // p, p, 32 // p, p, 3).permute(0, 1, 3, 2, 4, 5).reshape(B, -1, p * p * 3)
        x = s.embed(x)
        if s.cls is not None: x = torch.cat([s.cls.expand(B, -1, -1), x], 1)
        x = x + s.pos
        for b in s.blocks: x = b(x)
        x = s.norm(x)
        return s.head(x[:, 0] if s.cls is not None else x.mean(1))


def augment(x, cfg, g):
    # x: B,H,W,C. Keras-style random affine (flip, rotation factor, zoom factor, translation factor), bilinear, reflect.
    B = x.shape[0]; dev = x.device
    a = cfg.get('aug', {})
    if not a: return x
    xc = x.permute(0, 3, 1, 2)
    if a.get('flip'):
        m = torch.rand(B, device=dev, generator=g) < 0.5
        xc = torch.where(m[:, None, None, None], xc.flip(3), xc)
    rot = a.get('rotation', 0); zoom = a.get('zoom', 0); tr = a.get('translation', 0)
    if rot or zoom or tr:
        th = (torch.rand(B, device=dev, generator=g) * 2 - 1) * rot * 2 * math.pi
        z = 1 + (torch.rand(B, device=dev, generator=g) * 2 - 1) * zoom
        tx = (torch.rand(B, device=dev, generator=g) * 2 - 1) * tr * 2
        ty = (torch.rand(B, device=dev, generator=g) * 2 - 1) * tr * 2
        c, s_ = torch.cos(th) * z, torch.sin(th) * z
        A = torch.stack([torch.stack([c, -s_, tx], 1), torch.stack([s_, c, ty], 1)], 1)
        grid = F.affine_grid(A, xc.shape, align_corners=False)
        mode = a.get('fill', 'reflection')
        if mode == 'zeros':  # constant fill with the raw-pixel 0 (normalized value of black)
            xc = F.grid_sample(xc - cfg['_black'], grid, mode='nearest' if a.get('nearest') else 'bilinear', padding_mode='zeros', align_corners=False) + cfg['_black']
        else:
            xc = F.grid_sample(xc, grid, mode='bilinear', padding_mode=mode, align_corners=False)
    return xc.permute(0, 2, 3, 1)


def run(cfg, data):
    torch.manual_seed(cfg.get('seed', 42)); dev = 'cuda' if torch.cuda.is_available() else 'cpu'
    torch.backends.cuda.matmul.allow_tf32 = False; torch.backends.cudnn.allow_tf32 = False
    xtr, ytr, xte, yte = data
    if os.environ.get('SMOKE'): xtr, ytr, xte, yte = xtr[:2000], ytr[:2000], xte[:500], yte[:500]
    NT = len(xtr); nval = int(NT * cfg.get('val', 0.1)); ntr = NT - nval
    X = torch.tensor(xtr, dtype=torch.float32, device=dev); Y = torch.tensor(ytr.astype(np.int64), device=dev)
    Xte = torch.tensor(xte, dtype=torch.float32, device=dev); Yte = torch.tensor(yte.astype(np.int64), device=dev)
    mean = X[:ntr].mean((0, 1, 2)); std = X[:ntr].std((0, 1, 2))
    X = (X - mean) / std; Xte = (Xte - mean) / std
    cfg['_black'] = (-mean / std)[None, :, None, None]
    Xv, Yv, X, Y = X[ntr:], Y[ntr:], X[:ntr], Y[:ntr]
    m = ViT(**cfg.get('model', {})).to(dev)
    lr = cfg.get('lr', 1e-3); wd = cfg.get('wd', 1e-4); bs = cfg.get('batch', 256); ep = cfg['epochs']
    if cfg.get('exclude', False):
        dec = [p for n, p in m.named_parameters() if p.ndim >= 2 and 'pos' not in n]
        nodec = [p for n, p in m.named_parameters() if not (p.ndim >= 2 and 'pos' not in n)]
        groups = [{'params': dec}, {'params': nodec, 'weight_decay': 0}]
    else:
        groups = [{'params': list(m.parameters())}]
    tfa = cfg.get('wd_mode', 'tfa') == 'tfa'
    opt = torch.optim.AdamW(groups, lr=lr, weight_decay=0 if tfa else wd)
    steps_per = math.ceil(ntr / bs); total = steps_per * ep; warm = int(cfg.get('warmup', 0) * steps_per)
    sched = cfg.get('schedule', 'constant')

    def lr_at(t):
        if sched == 'constant': return lr
        if t < warm: return lr * (t + 1) / warm
        return cfg.get('min_lr', 0) + (lr - cfg.get('min_lr', 0)) * 0.5 * (1 + math.cos(math.pi * (t - warm) / max(1, total - warm)))
    g = torch.Generator(device=dev); g.manual_seed(cfg.get('seed', 42))
    ls = cfg.get('ls', 0.0); hist = []; t = 0; t0 = time.time()

    def acc(Xs, Ys):
        m.eval(); c = 0; c5 = 0
        with torch.no_grad():
            for i in range(0, len(Xs), 1000):
                o = m(Xs[i:i + 1000]); c += (o.argmax(1) == Ys[i:i + 1000]).sum().item()
                c5 += (o.topk(5, 1).indices == Ys[i:i + 1000, None]).any(1).sum().item()
        m.train(); return c / len(Xs), c5 / len(Xs)
    best = (-1, None)
    for e in range(ep):
        perm = torch.randperm(ntr, device=dev, generator=g)
        for i in range(0, ntr, bs):
            idx = perm[i:i + bs]
            xb = augment(X[idx], cfg, g); yb = Y[idx]
            for gr in opt.param_groups: gr['lr'] = lr_at(t)
            if tfa:
                with torch.no_grad():
                    for p in m.parameters(): p.mul_(1 - wd)
            loss = F.cross_entropy(m(xb), yb, label_smoothing=ls)
            opt.zero_grad(set_to_none=True); loss.backward(); opt.step(); t += 1
        va, _ = acc(Xv, Yv); hist.append(round(va, 4))
        if va > best[0]: best = (va, {k: v.clone() for k, v in m.state_dict().items()})
    final_test = acc(Xte, Yte)
    m.load_state_dict(best[1]); best_test = acc(Xte, Yte)
    return {'name': cfg['name'], 'val': hist, 'test_final': final_test, 'test_best': best_test, 'seconds': round(time.time() - t0, 1),
            'params': sum(p.numel() for p in m.parameters())}


def main():
    configs = sys.argv[1]
    cfgs = json.load(open(configs if os.path.isabs(configs) else os.path.join(HERE, configs)))
    if len(sys.argv) > 2:  # worker: run the configs with these indices
        data = load(); res = []
        for i in map(int, sys.argv[2].split(',')):
            r = run(cfgs[i], data); print(json.dumps(r), flush=True); res.append(r)
            os.makedirs(OUT, exist_ok=True)
            with open(os.path.join(OUT, 'results.jsonl'), 'a') as f: f.write(json.dumps(r) + '\n')
        return
    par = int(os.environ.get('PAR', '6'))
    chunks = [list(range(len(cfgs)))[k::par] for k in range(par)]
    procs = [subprocess.Popen([sys.executable, __file__, configs, ','.join(map(str, c))], stdout=subprocess.PIPE, text=True) for c in chunks if c]
    results = []
    for p in procs:
        for line in p.stdout:
            if line.startswith('{'): results.append(json.loads(line)); print(line.strip(), flush=True)
        p.wait()
    os.makedirs(OUT, exist_ok=True)
    json.dump(results, open(os.path.join(OUT, 'sweep.json'), 'w'), indent=1)


if __name__ == '__main__':
    main()
