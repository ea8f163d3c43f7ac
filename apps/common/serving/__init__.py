"""Serve every export under saved_models/ with kserve's model server (TF Serving's REST API).

    classics serve [--model-root saved_models] [--host 127.0.0.1] [--port 8080]

One kserve predictor per app folder `saved_models/<app>/`, serving the highest integer
version, loaded with `tf.saved_model.load` and called through its signature's concrete
function. The folder is polled: a new version directory (exports appear by an atomic
rename, and only integer names count) is loaded in the background and swapped in without
a restart; a version that fails to load is logged and the previous one keeps serving.

TensorFlow Serving's REST API (V1), answered by kserve's V1 endpoints plus a few routes:
    POST /v1/models/<app>:predict                    {"instances": [...]} -> {"predictions": [...]}
    POST /v1/models/<app>/versions/<v>:predict       {"inputs": ...}      -> {"outputs": ...}
    GET  /v1/models/<app>/metadata                   signatures: input/output names, dtypes, shapes
    GET  /v1/models/<app>/versions/<v>[/metadata]    version status / metadata
    GET  /v1/models/<app>    GET /v1/models    GET /v2/health/ready    GET /metrics
Bytes travel as {"b64": "..."}; "signature_name" picks a signature (default
"serving_default").

Answers per instance: an instance the model cannot answer (its export's `error` output is
not "", or the graph fails on it: an image it cannot decode) gets {"error": "<one line>"}
in its place in "predictions"; the other instances get their outputs (without `error`).
Columnar answers ("inputs") carry the `error` column as is. An empty batch gets an empty
answer ({"predictions": []}, or empty "outputs" columns) without calling the model.

Status codes (errors are {"error": "<one line>"}):
    200  the request was well-formed (per-instance errors inside the answer)
    400  malformed request: bad JSON (with or without a Content-Type), unknown key, input or
         signature name, wrong dtype/shape for the whole request, a columnar request the
         graph refuses
    404  unknown model or version
    413  body over --max-body-bytes (refused from its Content-Length before it is read, or
         as soon as a chunked body passes the limit)
    500  internal: the model failed on a well-formed request for another reason
"""

from apps.common.serving.server import add_arguments, run

__all__ = ["add_arguments", "run"]
