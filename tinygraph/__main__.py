from tinygraph.cli import main

raise SystemExit(main())
