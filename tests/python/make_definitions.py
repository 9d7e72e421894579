#!/usr/bin/env python
"""Create a schema of awkward table definitions with the real DataJoint client (0.14.10), for the
`.definition` and `.diagram.*` views.

    make_definitions.py SCHEMA

Drops SCHEMA if it exists, then declares (and fills a few rows):
  Lab            Lookup    varchar key; defaults with quotes, an empty default, numbers, enum,
                           date, CURRENT_TIMESTAMP, bool, json; a unique and a composite index
  Rig            Lookup    -> Lab, in the key but not as its prefix (an index InnoDB adds)
  Species        Lookup    key only, no comment
  SpeciesInfo    Manual    -> Species as its whole key
  Subject        Manual    auto_increment key; -> [nullable] Lab, -> [unique] Rig, -> Species;
                           uuid, nullable blob and attach, long names, comments with quotes and #
  Subject.Weight Part      -> master + date
  Cross          Manual    -> Subject.proj(mother=...), -> Subject.proj(father=...) in the key,
                           -> [nullable] Subject.proj(sibling=...) and -> [nullable, unique] Lab
                           below it
  Observation    Manual    -> Species and -> SpeciesInfo, both complete at the same attribute
  Scan           Imported  -> Subject; Scan.Unit part (-> master, -> Rig)
  Analysis       Computed  -> Scan; Analysis.Stat part (-> master, -> Scan.Unit)

Database from DJ_HOST / DJ_USER / DJ_PASS.
"""

import argparse
import datetime
import os
import sys
import uuid

import datajoint as dj

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import djenv  # noqa: E402

schema = dj.Schema()  # activated in main()


@schema
class Lab(dj.Lookup):
    definition = """
    # laboratories, with 'quoted' words
    lab : varchar(16)   # short name
    ---
    institution = "say 'hi'"  : varchar(64)
    quip = 'a "b" c'          : varchar(32)    # a "quoted" default
    empty_default = ""        : varchar(8)
    room = null               : varchar(8)
    capacity = 0              : int unsigned
    ratio = 1.5               : float
    budget = 2.50             : decimal(8,2)
    mode = "auto"             : enum('auto', 'manual', "semi auto")
    since = "2020-01-01"      : date
    created = CURRENT_TIMESTAMP : timestamp
    active = 1                : bool
    params = null             : json            # settings # with a hash
    unique index (institution)
    index (room, capacity)
    """
    contents = [("lab1", "Univ", "q", "", "101", 3, 1.5, 2.5, "auto", "2020-01-01",
                 datetime.datetime(2024, 1, 1), 1, None)]


@schema
class Rig(dj.Lookup):
    definition = """
    # recording rigs of a lab
    rig_idx : tinyint unsigned
    -> Lab
    ---
    rig_note = "" : varchar(255)
    """


@schema
class Species(dj.Lookup):
    definition = """
    species : varchar(32)
    """
    contents = [("mouse",), ("rat",)]


@schema
class SpeciesInfo(dj.Manual):
    definition = """
    # more about a species
    -> Species
    ---
    latin : varchar(64)
    """


@schema
class Subject(dj.Manual):
    definition = """
    # experimental subject
    subject_id : int auto_increment   # assigned by the database
    ---
    -> [nullable] Lab
    -> [unique] Rig
    -> Species
    subject_uuid : uuid                # a "unique" id
    a_very_long_attribute_name_indeed = -1 : smallint
    dob = null : date
    weight = null : double             # grams # approx
    photo = null : attach
    raw = null : longblob
    unique index (subject_uuid)
    index (dob, weight)
    """

    class Weight(dj.Part):
        definition = """
        -> master
        weigh_date : date
        ---
        grams : double
        """


@schema
class Cross(dj.Manual):
    definition = """
    # a pairing
    -> Subject.proj(mother='subject_id')
    -> Subject.proj(father='subject_id')
    ---
    -> [nullable] Subject.proj(sibling='subject_id')
    -> [nullable, unique] Lab
    cross_date : date
    """


@schema
class Observation(dj.Manual):
    definition = """
    -> Species
    -> SpeciesInfo
    obs_id : int
    ---
    notes = "" : varchar(1024)
    """


@schema
class Scan(dj.Imported):
    definition = """
    # an imported scan
    -> Subject
    scan_idx : smallint
    ---
    depth : float   # um
    """

    class Unit(dj.Part):
        definition = """
        -> master
        unit_id : int
        ---
        -> Rig
        """

    def make(self, key):
        self.insert1(dict(key, scan_idx=1, depth=100.0))


@schema
class Analysis(dj.Computed):
    definition = """
    -> Scan
    ---
    result : double
    """

    class Stat(dj.Part):
        definition = """
        -> master
        -> Scan.Unit
        ---
        value = null : double
        """

    def make(self, key):
        self.insert1(dict(key, result=1.0))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("schema")
    args = ap.parse_args()
    djenv.configure()
    dj.conn(reset=True)
    djenv.fresh_schema(args.schema)
    schema.activate(args.schema)
    Rig.insert1(dict(rig_idx=1, lab="lab1"))
    SpeciesInfo.insert1(dict(species="mouse", latin="Mus musculus"))
    Subject.insert1(dict(lab="lab1", rig_idx=1, species="mouse", subject_uuid=uuid.UUID(int=7)))
    Scan.populate()
    Analysis.populate()
    print(f"schema `{args.schema}` created with datajoint {dj.__version__}")


if __name__ == "__main__":
    main()
