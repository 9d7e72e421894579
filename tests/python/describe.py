#!/usr/bin/env python
"""Print what the real DataJoint client (0.14.10) says about a schema's tables, as JSON:

    describe.py SCHEMA

    {"definitions": {"<Class>": "<table.describe()>", ...},
     "tiers": {"<Class>": "Manual" | "Lookup" | "Imported" | "Computed" | "Part", ...},
     "dependencies": [["<Parent>", "<Child>"], ...]}

Classes are made with `spawn_missing_classes` (parts as `Master.Part`) and `describe()` is given
them as its context, so foreign keys name their parents by class. Dependencies: one pair per
foreign key each table's `parents(foreign_key_info=True)` reports (renamed ones included),
parents outside the schema left out. Database from DJ_HOST / DJ_USER / DJ_PASS.
"""

import inspect
import json
import os
import sys

os.environ.setdefault("DJ_SUPPORT_FILEPATH_MANAGEMENT", "TRUE")

import datajoint as dj  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import djenv  # noqa: E402


def tables_of(context):
    """(class name, class) for every table class in the context, parts as Master.Part."""
    for name, cls in sorted(context.items()):
        if not (inspect.isclass(cls) and issubclass(cls, dj.Table)):
            continue
        yield name, cls
        for attr in sorted(vars(cls)):
            part = getattr(cls, attr)
            if attr[0].isupper() and inspect.isclass(part) and issubclass(part, dj.Part):
                yield f"{name}.{attr}", part


def main():
    schema_name = sys.argv[1]
    djenv.configure()
    dj.conn(reset=True)
    schema = dj.Schema(schema_name, create_schema=False)
    context = {}
    schema.spawn_missing_classes(context=context)
    classes = dict(tables_of(context))
    by_full_name = {cls.full_table_name: name for name, cls in classes.items()}
    definitions = {}
    tiers = {}
    dependencies = []
    for name, cls in classes.items():
        table = cls()
        definitions[name] = table.describe(context=context)
        tiers[name] = next(
            t.__name__ for t in (dj.Part, dj.Lookup, dj.Imported, dj.Computed, dj.Manual) if issubclass(cls, t)
        )
        for parent, _props in table.parents(foreign_key_info=True):
            if parent in by_full_name:
                dependencies.append([by_full_name[parent], name])
    out = {"definitions": definitions, "tiers": tiers, "dependencies": sorted(dependencies)}
    json.dump(out, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
