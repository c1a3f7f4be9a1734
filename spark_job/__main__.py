import sys

from spark_job.main import main

sys.exit(main())
