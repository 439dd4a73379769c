#!/usr/bin/env python3
"""tools/unet_receptive_fields.py - the receptive fields of the classic UNet quoted in docs/unet.md.

Exact, by propagating index intervals along one axis (every layer is separable): each feature
position carries the interval [lo, hi] of input positions that can reach it. A 3x3 conv (padding
1) takes the union over o-1..o+1, a 2x2 max pool over 2o, 2o+1, a 2x2 stride-2 transposed conv
copies position o // 2, a skip concatenation takes the union of the two branches. Sizes are
reported away from the borders, as min..max over the positions (after an upsampling they depend
on the position). tests/test_docs.cpp measures a few of them on fbseg's UNet by perturbation.

    python3 tools/unet_receptive_fields.py
"""

N = 8192  # positions along the axis: large, so that the centre is far from the borders


def conv3(f):
    n = len(f)
    return [(min(f[max(o - 1, 0)][0], f[o][0], f[min(o + 1, n - 1)][0]),
             max(f[max(o - 1, 0)][1], f[o][1], f[min(o + 1, n - 1)][1])) for o in range(n)]


def pool(f):
    return [(min(f[2 * o][0], f[2 * o + 1][0]), max(f[2 * o][1], f[2 * o + 1][1])) for o in range(len(f) // 2)]


def up(f):
    return [f[o // 2] for o in range(2 * len(f))]


def cat(a, b):
    return [(min(x[0], y[0]), max(x[1], y[1])) for x, y in zip(a, b)]


def sizes(f):
    c = len(f) // 2
    s = [f[o][1] - f[o][0] + 1 for o in range(c - 32, c + 32)]
    return (min(s), max(s))


def main():
    for depth in (1, 2, 3, 4):
        f = [(i, i) for i in range(N)]
        skips, rows = [], []
        for level in range(depth + 1):
            f = conv3(conv3(f))
            rows.append((f"encoder.{level}", sizes(f), N // len(f)))
            if level < depth:
                skips.append(f)
                f = pool(f)
        for i in range(depth):
            f = cat(up(f), skips[-1 - i])
            f = conv3(conv3(f))
            rows.append((f"decoder.{i}", sizes(f), N // len(f)))
        print(f"depth {depth}:")
        for name, (lo, hi), stride in rows:
            print(f"  {name:10s} stride {stride:2d}  receptive field {lo if lo == hi else f'{lo}..{hi}'}")


if __name__ == "__main__":
    main()
