"""scikit-learn references for the linear learner (local/ll_*.c), used by
tests/test-linear-learner.c and bench/bench-train.c.

    ll_sklearn.py fit TRAIN VALID DIM
        Fits on TRAIN, scores VALID; prints one "name value" a line:
        linear_mse (LinearRegression: the best linear model for squared
        loss), sgd_mse (StandardScaler + SGDRegressor), lad_mae
        (QuantileRegressor at the median, no penalty: the best linear model
        for absolute loss, fitted on at most 4,000 rows to keep its linear
        program small) and mean_mse (predicting the training mean).

    ll_sklearn.py ref TRAIN VALID DIM
        The best linear models on all of TRAIN, scored on VALID (used by
        tests/test-local-seed.c): linear_mse (LinearRegression), lad_mse
        and lad_mae (QuantileRegressor at the median, no penalty, highs:
        least absolute deviations, the best linear model for absolute
        loss) and mean_mse.

    ll_sklearn.py bench TRAIN VALID DIM EPOCHS
        Times StandardScaler + SGDRegressor (squared loss, EPOCHS passes
        over the rows in order, no early stop) on TRAIN; prints
        fit_seconds, rows and valid_mse (on VALID, untimed).

Data files are float32, native byte order, one row after another: the
label, then DIM features (label first, as linear-learner's CSV).

Exits 77 when numpy or scikit-learn cannot be imported (the caller then
skips). Run it with Debian's /usr/bin/python3, which sees python3-sklearn.
"""
import sys
import time
import warnings

try:
    import numpy as np
    from sklearn.linear_model import (LinearRegression, QuantileRegressor,
                                      SGDRegressor)
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
except ImportError as e:
    print("# skipped: %s" % e)
    sys.exit(77)


def load(path, dim):
    a = np.fromfile(path, dtype=np.float32).reshape(-1, dim + 1)
    return a[:, 1:].astype(np.float64), a[:, 0].astype(np.float64)


def fit(train, valid, dim):
    x, y = load(train, dim)
    vx, vy = load(valid, dim)
    lin = LinearRegression().fit(x, y)
    print("linear_mse %.9g" % np.mean((lin.predict(vx) - vy) ** 2))
    sgd = make_pipeline(StandardScaler(),
                        SGDRegressor(max_iter=50, tol=1e-6, random_state=0))
    sgd.fit(x, y)
    print("sgd_mse %.9g" % np.mean((sgd.predict(vx) - vy) ** 2))
    n = min(len(y), 4000)
    lad = QuantileRegressor(quantile=0.5, alpha=0, solver="highs")
    lad.fit(x[:n], y[:n])
    print("lad_mae %.9g" % np.mean(np.abs(lad.predict(vx) - vy)))
    print("mean_mse %.9g" % np.mean((np.mean(y) - vy) ** 2))


def ref(train, valid, dim):
    x, y = load(train, dim)
    vx, vy = load(valid, dim)
    lin = LinearRegression().fit(x, y)
    print("linear_mse %.9g" % np.mean((lin.predict(vx) - vy) ** 2))
    lad = QuantileRegressor(quantile=0.5, alpha=0, solver="highs").fit(x, y)
    print("lad_mse %.9g" % np.mean((lad.predict(vx) - vy) ** 2))
    print("lad_mae %.9g" % np.mean(np.abs(lad.predict(vx) - vy)))
    print("mean_mse %.9g" % np.mean((np.mean(y) - vy) ** 2))


def bench(train, valid, dim, epochs):
    x, y = load(train, dim)
    vx, vy = load(valid, dim)
    model = make_pipeline(
        StandardScaler(),
        SGDRegressor(max_iter=epochs, tol=None, shuffle=False,
                     random_state=0))
    start = time.perf_counter()
    # SGDRegressor warns that EPOCHS passes did not converge: expected.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(x, y)
    seconds = time.perf_counter() - start
    print("fit_seconds %.6f" % seconds)
    print("rows %d" % len(y))
    print("valid_mse %.9g" % np.mean((model.predict(vx) - vy) ** 2))


def main(argv):
    if len(argv) == 5 and argv[1] == "fit":
        fit(argv[2], argv[3], int(argv[4]))
    elif len(argv) == 5 and argv[1] == "ref":
        ref(argv[2], argv[3], int(argv[4]))
    elif len(argv) == 6 and argv[1] == "bench":
        bench(argv[2], argv[3], int(argv[4]), int(argv[5]))
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
