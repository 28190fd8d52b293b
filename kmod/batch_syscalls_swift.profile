retpoline+cs-prefix+rethunk+sls+ibt+padding-16-16+align-16
