"""Connection strings printed or saved by memhound keep no secret (issue 14)."""

from __future__ import annotations

import pytest

from memhound.watchers._dsn import mask_dsn


@pytest.mark.parametrize(
    ("dsn", "masked"),
    [
        (
            "redis://default:x@127.0.0.1:9/0?password=rq",
            "redis://default:***@127.0.0.1:9/0?password=***",
        ),
        ("redis://:s3cret@localhost/0", "redis://:***@localhost/0"),
        (
            "redis://localhost:6379/0?db=1&token=abc&x=1",
            "redis://localhost:6379/0?db=1&token=***&x=1",
        ),
        (
            "postgresql://app:p@ss/w:rd@db.internal:5432/shop?sslpassword=k&sslmode=require",
            "postgresql://app:***@db.internal:5432/shop?sslpassword=***&sslmode=require",
        ),
        ("postgresql://app@[::1]:5432/shop", "postgresql://app@[::1]:5432/shop"),
        ("postgresql://app:pw@[::1]:5432/shop", "postgresql://app:***@[::1]:5432/shop"),
        ("host=db user=app password=hunter2 dbname=x", "host=db user=app password=*** dbname=x"),
        ("host=db password = 'it''s secret' port=5", "host=db password = *** port=5"),
        ("host=db PASSWORD='a b\\' c' sslpassword=z", "host=db PASSWORD=*** sslpassword=***"),
        ("host=db passfile=/home/app/.pgpass", "host=db passfile=/home/app/.pgpass"),
        ("redis://cache:6379/0?passwd=a;api_key=b", "redis://cache:6379/0?passwd=***;api_key=***"),
        ("redis://cache:6379/0", "redis://cache:6379/0"),
    ],
)
def test_every_credential_bearing_part_is_masked(dsn: str, masked: str) -> None:
    assert mask_dsn(dsn) == masked
