"""The Chalice app: the one route and handler table (docs/architecture.md).

`chalice local` serves it, `chalice.test.Client` drives it in tests, and every function in
template.yaml points its Handler at it: `app.app` for routes, `functions.<module>.<handler>` for
scheduled, queue and console-invoked handlers. tests/infra proves the template mirrors this table.
"""

from __future__ import annotations

import os
import sys

# The shared layer: on Lambda it is /opt/python (already on sys.path); locally it is ./layers.
_LAYER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "layers")
if os.path.isdir(_LAYER) and _LAYER not in sys.path:
    sys.path.insert(0, _LAYER)

from chalice import Chalice  # noqa: E402

from functions import (  # noqa: E402
    _http,
    admin,
    cors,
    dashboard,
    jobs,
    meta,
    mj,
    streams,
    suno,
    usage_log,
    user,
    v1,
    video,
    video_newapi,
    webhooks,
)

app = Chalice(app_name="task-center")
_http.bind_app(app)
app.api.binary_types.extend(["image/png", "image/jpeg", "image/webp", "image/gif", "multipart/form-data"])

for blueprint in (user.bp, dashboard.bp, suno.bp, mj.bp, v1.bp, video.bp, video_newapi.bp, jobs.bp, admin.bp, meta.bp,
                  webhooks.bp, usage_log.bp, streams.bp):
    app.register_blueprint(blueprint)

cors.register_preflight(app)  # after every blueprint: one OPTIONS route per relay / dashboard path

# Every view validates its own body and answers in its surface's envelope; accept any Content-Type so
# Chalice never refuses a request with its own 415 shape before the view runs.
for _methods in app.routes.values():
    for _entry in _methods.values():
        _entry.content_types = ["*/*"]
