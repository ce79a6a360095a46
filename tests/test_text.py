"""TextVectorization (Keras 3 semantics: Keras's own documented examples, its lexsort vocabulary
order, standardize/split/ngrams rules) and fusednet.text.sample (greedy limits, top-k / top-p
support, sampling frequencies, Philox determinism, errors).

Real Keras's TextVectorization needs TensorFlow, which is not installed here, so the reference
is Keras's documented outputs and the rules read from its implementation (index_lookup.py:
``np.lexsort((tokens, counts))[::-1]``; text_vectorization.py: the strip regex)."""
import numpy as np
import pytest

import fusednet
from fusednet.layers import TextVectorization


# ------------------------------------------------------------------ TextVectorization
def test_keras_doc_example_adapt():
    tv = TextVectorization(max_tokens=5000, output_mode="int", output_sequence_length=4)
    tv.adapt(["foo bar", "bar baz", "baz bada boom"])
    assert tv.get_vocabulary() == ["", "[UNK]", "baz", "bar", "foo", "boom", "bada"]
    out = tv(np.array([["foo qux bar"], ["qux baz"]]))
    np.testing.assert_array_equal(out, [[4, 1, 3, 0], [1, 2, 0, 0]])
    assert out.dtype == np.int64


def test_keras_doc_example_vocabulary():
    tv = TextVectorization(max_tokens=5000, output_mode="int", output_sequence_length=4,
                           vocabulary=["earth", "wind", "and", "fire"])
    assert tv.get_vocabulary() == ["", "[UNK]", "earth", "wind", "and", "fire"]
    np.testing.assert_array_equal(tv(["earth wind and also fire"]), [[2, 3, 4, 1]])
    assert tv.vocabulary_size() == 6
    assert tv.get_vocabulary(include_special_tokens=False) == ["earth", "wind", "and", "fire"]


def test_vocabulary_order_is_keras_lexsort(rng):
    """Counts descending, ties by the UTF-8 bytes descending: Keras's np.lexsort((tokens, counts))[::-1]."""
    words = ["w%d" % i for i in range(40)] + ["é", "Zeta", "alpha", "b", "B"]
    counts = rng.integers(1, 5, len(words))
    corpus = " ".join(w for w, c in zip(words, counts) for _ in range(c)).split()
    rng.shuffle(corpus)
    tv = TextVectorization(standardize=None)
    tv.adapt([" ".join(corpus[i:i + 7]) for i in range(0, len(corpus), 7)])
    toks = np.array([w.encode() for w in words])
    want = [toks[i].decode() for i in np.lexsort((toks, counts))[::-1]]
    assert tv.get_vocabulary() == ["", "[UNK]"] + want


def test_max_tokens_counts_reserved_tokens():
    tv = TextVectorization(max_tokens=4)
    tv.adapt(["a a a b b c d d d d"])
    assert tv.get_vocabulary() == ["", "[UNK]", "d", "a"]
    np.testing.assert_array_equal(tv(["a b c d"]), [[3, 1, 1, 2]])


def test_standardize_and_split():
    tv = TextVectorization()
    tv.adapt(["Hello, World! It's  a TEST."])
    assert sorted(tv.get_vocabulary()[2:]) == ["a", "hello", "its", "test", "world"]
    # tf.strings.lower without an encoding lowercases ASCII only
    assert TextVectorization(standardize="lower")._standardize("ÉCOLE Abc") == "École abc"
    assert TextVectorization(standardize="strip_punctuation")._standardize("A-b.c,[d]") == "Abcd"
    assert TextVectorization(standardize=None)._standardize("A-b") == "A-b"
    ch = TextVectorization(split="character", standardize="lower")
    ch.adapt(["abca", "B"])
    assert ch.get_vocabulary() == ["", "[UNK]", "b", "a", "c"]
    np.testing.assert_array_equal(ch(["cab", "a"]), [[4, 3, 2], [3, 0, 0]])
    cs = TextVectorization(split=lambda s: s.split("|"), standardize=None)
    cs.adapt(["x|y|x"])
    assert cs.get_vocabulary() == ["", "[UNK]", "x", "y"]


def test_ngrams_order_and_widths():
    tv = TextVectorization(ngrams=2, standardize=None)
    assert tv._tokens("a b c") == ["a", "b", "c", "a b", "b c"]
    assert TextVectorization(ngrams=(2, 3), standardize=None)._tokens("a b c") == ["a b", "b c", "a b c"]
    assert TextVectorization(ngrams=3, standardize=None)._tokens("a b") == ["a", "b", "a b"]


def test_output_lengths_and_scalar_input():
    tv = TextVectorization(vocabulary=["a", "b"])
    out = tv(["a", "a b b", ""])
    np.testing.assert_array_equal(out, [[2, 0, 0], [2, 3, 3], [0, 0, 0]])  # padded to the longest row
    np.testing.assert_array_equal(TextVectorization(vocabulary=["a", "b"], output_sequence_length=2)(["b a b"]),
                                  [[3, 2]])                               # truncated at the end
    np.testing.assert_array_equal(tv("b a"), [3, 2])


def test_multi_hot_and_count_modes():
    mh = TextVectorization(output_mode="multi_hot", vocabulary=["a", "b", "c"])
    assert mh.get_vocabulary() == ["[UNK]", "a", "b", "c"]
    np.testing.assert_array_equal(mh(["a a z c"]), [[1, 1, 0, 1]])
    ct = TextVectorization(output_mode="count", vocabulary=["a", "b"], max_tokens=6, pad_to_max_tokens=True)
    np.testing.assert_array_equal(ct(["a a z b a"]), [[1, 3, 1, 0, 0, 0]])


def test_text_vectorization_errors():
    with pytest.raises(ValueError, match="output_mode"):
        TextVectorization(output_mode="tf_idf")
    with pytest.raises(ValueError, match="ngrams"):
        TextVectorization(ngrams="2")
    with pytest.raises(ValueError, match="repeated token 'a'"):
        TextVectorization(vocabulary=["a", "b", "a"])
    with pytest.raises(ValueError, match="larger than max_tokens"):
        TextVectorization(max_tokens=3, vocabulary=["a", "b"])
    with pytest.raises(TypeError, match="strings"):
        TextVectorization(vocabulary=["a"])([1, 2])
    with pytest.raises(ValueError, match="shape"):
        TextVectorization(vocabulary=["a"])(np.array([["a", "b"]]))


def test_text_vectorization_feeds_a_model(rng):
    tv = TextVectorization(output_sequence_length=6)
    tv.adapt(["the cat sat", "the dog ran far away", "a cat ran"])
    ids = tv(["the cat ran", "a dog sat far"])
    emb = fusednet.layers.TokenAndPositionEmbedding(tv.vocabulary_size(), 6, 4)
    assert tuple(emb(ids).shape) == (2, 6, 4)


# ------------------------------------------------------------------ sample
sample = fusednet.text.sample


def test_greedy_limits(rng):
    logits = rng.standard_normal((300, 17)).astype(np.float32)
    top = logits.argmax(-1)
    np.testing.assert_array_equal(sample(logits, top_k=1, seed=0), top)
    np.testing.assert_array_equal(sample(logits, temperature=0.0), top)
    np.testing.assert_array_equal(sample(logits, temperature=1e-4, seed=1), top)
    np.testing.assert_array_equal(sample(logits, top_p=1e-6, seed=2), top)
    assert sample(np.array([0.1, 2.0, -1.0]), temperature=0.0) == 1


def test_sampling_frequencies_match_softmax():
    logits = np.array([1.0, 0.0, -1.0, 0.5, 2.0], np.float32)
    n = 40000
    ids = sample(np.tile(logits, (n, 1)), seed=7)
    p = np.exp(logits - logits.max())
    p /= p.sum()
    freq = np.bincount(ids, minlength=5) / n
    assert np.all(np.abs(freq - p) < 5 * np.sqrt(p * (1 - p) / n)), (freq, p)
    # temperature 2 flattens: frequencies follow softmax(logits / 2)
    ids = sample(np.tile(logits, (n, 1)), temperature=2.0, seed=8)
    p2 = np.exp(logits / 2 - (logits / 2).max())
    p2 /= p2.sum()
    freq = np.bincount(ids, minlength=5) / n
    assert np.all(np.abs(freq - p2) < 5 * np.sqrt(p2 * (1 - p2) / n)), (freq, p2)


def test_top_k_support_and_renormalisation():
    logits = np.log(np.array([0.1, 0.4, 0.05, 0.3, 0.15]))
    n = 30000
    ids = sample(np.tile(logits, (n, 1)), top_k=2, seed=3)
    assert set(np.unique(ids)) == {1, 3}
    frac = np.mean(ids == 1)
    assert abs(frac - 0.4 / 0.7) < 5 * np.sqrt(0.25 / n)


@pytest.mark.parametrize("top_p,support", [(0.45, {0}), (0.7, {0, 1}), (0.8, {0, 1, 2}), (1.0, {0, 1, 2, 3})])
def test_top_p_keeps_smallest_set_with_mass_p(top_p, support):
    probs = np.array([0.5, 0.25, 0.15, 0.1])
    perm = np.array([2, 0, 3, 1])          # scramble the vocabulary order
    logits = np.log(probs)[perm]
    ids = sample(np.tile(logits, (5000, 1)), top_p=top_p, seed=11)
    assert {int(perm[i]) for i in np.unique(ids)} == support


def test_minus_inf_never_drawn_and_shapes():
    logits = np.array([[0.0, -np.inf, 0.0], [-np.inf, -np.inf, 3.0]], np.float32)
    ids = sample(np.tile(logits, (1000, 1, 1)), seed=4)
    assert ids.shape == (1000, 2)
    assert not np.any(ids[:, 0] == 1) and np.all(ids[:, 1] == 2)
    arr = fusednet.asarray(np.zeros((3, 4), np.float32))
    assert sample(arr, seed=0).shape == (3,)


def test_seeded_determinism():
    logits = np.random.default_rng(0).standard_normal((64, 50))
    a = sample(logits, temperature=0.9, top_k=20, top_p=0.9, seed=123)
    np.testing.assert_array_equal(a, sample(logits, temperature=0.9, top_k=20, top_p=0.9, seed=123))
    assert not np.array_equal(a, sample(logits, temperature=0.9, top_k=20, top_p=0.9, seed=124))
    fusednet.random.seed(5)
    b = sample(logits)
    fusednet.random.seed(5)
    np.testing.assert_array_equal(b, sample(logits))


@pytest.mark.parametrize("kw,msg", [({"temperature": -1.0}, "temperature"), ({"top_k": 0}, "top_k"),
                                    ({"top_p": 0.0}, "top_p"), ({"top_p": 1.5}, "top_p")])
def test_sample_errors(kw, msg):
    with pytest.raises(ValueError, match=msg):
        sample(np.zeros((2, 3)), **kw)
    with pytest.raises(ValueError, match="NaN"):
        sample(np.array([0.0, np.nan]))
    with pytest.raises(ValueError, match="entirely -inf"):
        sample(np.array([-np.inf, -np.inf]))
    with pytest.raises(ValueError, match="vocabulary"):
        sample(np.zeros((2, 0)))
