from tinygraph.tools.cli import main

raise SystemExit(main())
