from vjengine.cli import main

raise SystemExit(main())
