"""Import every domain's models so the metadata is complete (Alembic, create_all in tests)."""

from cityloop.cases import models as cases_models  # noqa: F401
from cityloop.core import audit  # noqa: F401
from cityloop.insight import models as insight_models  # noqa: F401
from cityloop.livability import models as livability_models  # noqa: F401
from cityloop.org import models  # noqa: F401
from cityloop.programme import models as programme_models  # noqa: F401
from cityloop.resources import models as resources_models  # noqa: F401
from cityloop.twin import models as twin_models  # noqa: F401
