retpoline+cs-prefix+rethunk+sls+align-16
