scripts/ablation.sh -r 3 -P 1 (sudo make ablation ABLATION_ARGS='-r 3 -P 1'), scripts of ae17298, QEMU and vexitprof of bdc31be
