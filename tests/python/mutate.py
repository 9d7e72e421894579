"""Changes made by "another client" during the djfs tests, through the real client.

    mutate.py insert-subject SCHEMA ID NAME   insert a row into Subject (make_reference.py schema)
    mutate.py delete-subject SCHEMA ID        delete that row again
    mutate.py corrupt-blob SCHEMA ARRAY_ID    fault injection: cut the last 5 bytes off Arrays.value

The corruption is deliberately done with one UPDATE through the client's connection: no client
writes damaged blobs, and the test needs one to check that djfs reports it cleanly.
"""

import sys

import datajoint as dj

import djenv


def main(argv):
    command, schema_name = argv[1], argv[2]
    djenv.connect()
    vm = dj.VirtualModule(schema_name, schema_name)
    if command == "insert-subject":
        vm.Subject.insert1(dict(subject_id=int(argv[3]), subject_name=argv[4], sex="U"))
    elif command == "delete-subject":
        (vm.Subject & dict(subject_id=int(argv[3]))).delete()
    elif command == "corrupt-blob":
        dj.conn().query(
            f"UPDATE `{schema_name}`.`arrays` SET value = SUBSTRING(value, 1, LENGTH(value) - 5) "
            "WHERE array_id = %s",
            args=(int(argv[3]),),
        )
    else:
        sys.exit(f"unknown command {command}")


if __name__ == "__main__":
    main(sys.argv)
