"""The three projections of the embedding map, each from scikit-learn or umap-learn: PCA (with what places
a new input exactly), t-SNE and UMAP (umap-learn is optional and slow to import, so imported here only when
a UMAP map is asked for)."""

from __future__ import annotations

import numpy as np

from cnnviz.core.errors import CnnvizError
from cnnviz.core.fileio import quiet

#: t-SNE and UMAP see the features reduced to this many principal components first (the usual practice:
#: faster, and the noise in the last components does not drive the map).
PRE_PCA_DIMS = 50


class EmbeddingError(CnnvizError):
    """An embedding map that cannot be made (unknown stage, UMAP missing, too much data)."""


def pca_map(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[float, ...]]:
    from sklearn.decomposition import PCA

    pca = PCA(n_components=2, svd_solver="full").fit(x)
    mean, components = pca.mean_.astype(np.float64), pca.components_.astype(np.float64)
    return (x - mean) @ components.T, mean, components, tuple(float(v) for v in pca.explained_variance_ratio_)


def _reduced(x: np.ndarray) -> np.ndarray:
    if x.shape[1] <= PRE_PCA_DIMS or len(x) <= PRE_PCA_DIMS:
        return x
    from sklearn.decomposition import PCA

    return PCA(n_components=PRE_PCA_DIMS, svd_solver="full").fit_transform(x)


def tsne_map(x: np.ndarray, random_state: int) -> np.ndarray:
    from sklearn.manifold import TSNE

    x = _reduced(x)
    perplexity = float(min(30.0, (len(x) - 1) / 3))
    # (not inside fileio.quiet: its one lock would be held for the seconds t-SNE takes; scikit-learn says
    # nothing here, which the tests check with warnings turned into errors)
    return TSNE(n_components=2, perplexity=perplexity, init="pca", learning_rate="auto",
                random_state=random_state).fit_transform(x)


def umap_map(x: np.ndarray, random_state: int) -> np.ndarray:
    try:
        with quiet(c_stderr=True):
            import umap  # slow (numba): imported only when a UMAP map is asked for
    except ImportError:
        raise EmbeddingError("UMAP needs the optional package umap-learn: pip install cnnviz[umap] "
                             "(or use --method pca or tsne).") from None
    x = _reduced(x)
    # n_jobs=1: with a seed UMAP runs on one thread anyway, and says so on stderr unless told
    reducer = umap.UMAP(n_components=2, n_neighbors=max(2, min(15, len(x) - 1)), random_state=random_state,
                        n_jobs=1)
    return np.asarray(reducer.fit_transform(x))
