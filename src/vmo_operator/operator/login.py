"""kopf's login, from the same configuration as the floor's client (`kube.connect.locate`).

kopf logs in through the official client when that is installed, else with rudimentary readers of
the service account and the kubeconfig that know no credential plugin. The image installs no
official client (see `kube.transport`), so the operator tells kopf what the floor already knows:
the same server, CA and credentials, a plugin's expiry included, so kopf asks again in time.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import kopf

from vmo_operator.kube.connect import locate
from vmo_operator.kube.credentials import Credentials


def login(settings: kopf.OperatorSettings, **_: Any) -> kopf.ConnectionInfo:
    endpoint, identity = locate()
    credentials = Credentials(identity)
    token = credentials.token()
    certificate = credentials.certificate()
    valid_until = credentials.valid_until()
    return kopf.ConnectionInfo(
        server=endpoint.host,
        ca_path=endpoint.ca_file,
        ca_data=endpoint.ca_data if not endpoint.ca_file else None,
        insecure=not endpoint.verify,
        scheme="Bearer" if token else None,
        token=token,
        certificate_data=certificate.cert_pem if certificate else None,
        private_key_data=certificate.key_pem if certificate else None,
        proxy_url=endpoint.proxy,
        trust_env=settings.networking.trust_env,
        expiration=dt.datetime.fromtimestamp(valid_until, dt.UTC) if valid_until is not None else None,
    )


def register(registry: kopf.OperatorRegistry) -> None:
    kopf.on.login(id="vmo-login", registry=registry)(login)
