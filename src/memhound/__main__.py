from memhound.cli import main

raise SystemExit(main())
