import numpy as np
import pytest

from curata.scorers.knn_agreement import KnnAgreementScorer


def two_blobs():
    emb = [[1, 0]] * 5 + [[0, 1]] * 5
    labels = ["B"] + ["A"] * 4 + ["B"] * 5  # r0 sits among the A's with label B
    return emb, labels


def test_flipped_record_disagrees(make_pool, ctx):
    emb, labels = two_blobs()
    out = KnnAgreementScorer(k=4).score(make_pool(embeddings=emb, labels=labels), ctx)
    assert list(out.columns) == ["knn_agreement_score"]
    np.testing.assert_allclose(out["knn_agreement_score"], [0.0] + [0.75] * 4 + [1.0] * 5)


def test_orthogonal_neighbours_carry_no_weight(make_pool, ctx):
    emb, labels = two_blobs()
    out = KnnAgreementScorer(k=9).score(make_pool(embeddings=emb, labels=labels), ctx)
    # the other blob is at cosine 0; unweighted the A records would score 3/9
    np.testing.assert_allclose(out["knn_agreement_score"], [0.0] + [0.75] * 4 + [1.0] * 5)


def test_similarity_weights(make_pool, ctx):
    q = [1.0, 0.0]
    a = [0.9, np.sqrt(1 - 0.81)]
    b = [0.3, -np.sqrt(1 - 0.09)]
    out = KnnAgreementScorer(k=2).score(make_pool(embeddings=[q, a, b], labels=["A", "A", "B"]), ctx)
    assert out["knn_agreement_score"][0] == pytest.approx(0.9 / (0.9 + 0.3), abs=1e-6)
    # b's neighbours: q (0.3, A) and a (cos 0.27 - 0.95*0.436 < 0, weight 0) -> 0
    assert out["knn_agreement_score"][2] == pytest.approx(0.0)


def test_all_negative_similarities_fall_back_to_plain_share(make_pool, ctx):
    out = KnnAgreementScorer(k=2).score(make_pool(embeddings=[[1, 0], [-1, 0.1], [-1, -0.1]],
                                                  labels=["A", "A", "B"]), ctx)
    assert out["knn_agreement_score"][0] == pytest.approx(0.5)


def test_unlabelled(make_pool, ctx):
    emb, labels = two_blobs()
    labels[1] = None
    out = KnnAgreementScorer(k=4).score(make_pool(embeddings=emb, labels=labels), ctx)["knn_agreement_score"]
    assert np.isnan(out[1])
    assert out[0] == 0.0
    np.testing.assert_allclose(out[2:5], 2 / 3)  # r1 is ignored: 2 of 3 labelled neighbours agree
