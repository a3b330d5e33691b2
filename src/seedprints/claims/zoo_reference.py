"""The zoo reference of :mod:`seedprints.claims.power`: the z derivatives of each kind reach on the zoo.

Written by ``python bench/claims_zoo.py reference docs/zoo-cpu-unseen-tail/results.json``; do not edit by hand (a test recomputes it from its source).
"""

ZOO_REFERENCE = {'command': 'seedprints zoo eval /work/zoo-unseen --out /work/eval-unseen-new --method lineage --alpha 0.01 '
            '--n 1000 --length 64 --probe-seed 42 --device cpu --batch-size 64',
 'hidden_sizes': [256],
 'length': 64,
 'method': 'lineage',
 'n': 1000,
 'relations': {'adapter': {'categories': ['lora-merged'], 'pairs': 3, 'z_median': 41.12, 'z_min': 40.64},
               'any': {'categories': ['finetune',
                                      'continual',
                                      'lora-merged',
                                      'int8',
                                      'int4',
                                      'merge (finetune+lora)',
                                      'prune',
                                      'noise',
                                      'permute',
                                      'permute-mlp'],
                       'pairs': 36,
                       'z_median': 42.91,
                       'z_min': 32.73},
               'finetune': {'categories': ['finetune', 'continual', 'lora-merged'],
                            'pairs': 9,
                            'z_median': 39.07,
                            'z_min': 32.73},
               'merge': {'categories': ['merge (finetune+lora)'],
                         'pairs': 9,
                         'z_median': 42.81,
                         'z_min': 40.47},
               'quantized': {'categories': ['int8', 'int4'], 'pairs': 6, 'z_median': 44.07, 'z_min': 42.98}},
 'source': 'docs/zoo-cpu-unseen-tail/results.json'}
