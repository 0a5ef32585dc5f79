"""Train Embedding -> LSTM -> Dense on a small synthetic task, graph-style.

The task: a sequence of tokens 1..9, right-padded with 0 to a fixed length; the
class is the FIRST token modulo 3. The LSTM must carry the first token to the
end of the sequence, past the padding (masked with ``Embedding(mask_zero=True)``).

    python examples/train_lstm_classifier.py [--steps 200] [--unroll]
"""
import argparse

import numpy as np

import tinygraph as tg
from tinygraph import layers

VOCAB, MAX_LEN, CLASSES = 10, 12, 3


def make_batch(rng, batch):
    lengths = rng.integers(4, MAX_LEN + 1, size=batch)
    ids = rng.integers(1, VOCAB, size=(batch, MAX_LEN))
    ids[np.arange(MAX_LEN)[None, :] >= lengths[:, None]] = 0        # right padding
    return ids.astype(np.int32), (ids[:, 0] % CLASSES).astype(np.int32)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--units", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--unroll", action="store_true", help="unroll the LSTM over time")
    args = parser.parse_args(argv)

    tg.set_random_seed(args.seed)
    rng = np.random.default_rng(args.seed)

    ids = tg.placeholder((None, MAX_LEN), "int32", name="ids")
    labels = tg.placeholder((None,), "int32", name="labels")
    embedding = layers.Embedding(VOCAB, 8, mask_zero=True)
    lstm = layers.LSTM(args.units, unroll=args.unroll)
    head = layers.Dense(CLASSES)

    logits = head(lstm(embedding(ids), mask=embedding.compute_mask(ids)))
    loss = tg.losses.sparse_softmax_cross_entropy(labels, logits)
    train = tg.optimizers.Adam(0.01).minimize(loss)

    sess = tg.Session()
    losses = []
    every = max(1, args.steps // 10)
    for step in range(1, args.steps + 1):
        x, y = make_batch(rng, args.batch)
        value, _ = sess.run([loss, train], {ids: x, labels: y})
        losses.append(float(value))
        if step % every == 0 or step == 1:
            print(f"step {step:4d}  loss {np.mean(losses[-every:]):.4f}")

    x, y = make_batch(np.random.default_rng(args.seed + 1), 512)
    predictions = np.argmax(sess.run(logits, {ids: x}), axis=-1)
    print(f"first loss {losses[0]:.4f}, last loss {np.mean(losses[-every:]):.4f}, "
          f"held-out accuracy {np.mean(predictions == y):.3f} (chance {1 / CLASSES:.3f})")
    return losses


if __name__ == "__main__":
    main()
