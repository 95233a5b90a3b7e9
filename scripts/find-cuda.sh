#!/bin/sh
# Finds what the CUDA backend builds with and prints it as make variable assignments, one per
# line (no spaces in values): NVCC, CUDA_INC, CUDART, CUDNN_INC, CUDNN_LIB, CUDNN_SO,
# CUDNN_VERSION, CUBLAS_INC, CUBLAS_LIB, CUBLAS_SO, and CUDA_WHY when something is missing.
# Looks in $CUDA_HOME and $CUDNN_HOME first, then the usual places: /usr/local/cuda, the
# folder of `nvcc` on the PATH, /usr, and NVIDIA's Python wheels (site-packages/nvidia/...).
set -u
PYTHON=${PYTHON:-python3}

first_dir_with() {  # first_dir_with FILE DIR...: the first DIR that holds FILE
  file=$1
  shift
  for d in "$@"; do
    [ -n "$d" ] && [ -e "$d/$file" ] && { echo "$d"; return 0; }
  done
  return 1
}

soname_in() {  # soname_in DIR BASE: the versioned file name of libBASE.so in DIR, else libBASE.so
  f=$(ls "$1" 2>/dev/null | grep -E "^lib$2\.so\.[0-9]+$" | sort -V | tail -n 1)
  [ -n "$f" ] && { echo "$f"; return; }
  [ -e "$1/lib$2.so" ] && echo "lib$2.so"
}

wheel_dir() {  # wheel_dir PACKAGE: site-packages/nvidia/PACKAGE of a Python that has it
  for py in "$PYTHON" python3 /usr/bin/python3; do
    command -v "$py" >/dev/null 2>&1 || continue
    d=$("$py" -c "import nvidia.$1 as m; print(list(m.__path__)[0])" 2>/dev/null) && [ -n "$d" ] &&
      { echo "$d"; return; }
  done
}

nvcc_home=$(command -v nvcc 2>/dev/null | sed 's#/bin/nvcc$##')
cuda=$(first_dir_with bin/nvcc "${CUDA_HOME:-}" /usr/local/cuda "$nvcc_home") || {
  echo "CUDA_WHY=no_nvcc_(set_CUDA_HOME)"
  exit 0
}
echo "NVCC=$cuda/bin/nvcc"
echo "CUDA_INC=$cuda/include"
cudalib=$(first_dir_with libcudart_static.a "$cuda/lib64" "$cuda/lib" "$cuda/targets/x86_64-linux/lib")
if [ -n "$cudalib" ]; then
  echo "CUDART=$cudalib/libcudart_static.a"
else
  cudalib=$(first_dir_with libcudart.so "$cuda/lib64" "$cuda/lib" "$(wheel_dir cuda_runtime)/lib")
  [ -n "$cudalib" ] && echo "CUDART=-L$cudalib,-lcudart,-Wl,-rpath,$cudalib"
fi

cudnn_wheel=$(wheel_dir cudnn)
cudnn_home=${CUDNN_HOME:-}
cudnn_inc=$(first_dir_with cudnn.h "$cudnn_home/include" "$cuda/include" /usr/include \
  /usr/include/x86_64-linux-gnu "$cudnn_wheel/include")
cudnn_lib=""
for d in "$cudnn_home/lib64" "$cudnn_home/lib" "$cuda/lib64" "$cuda/lib" /usr/lib/x86_64-linux-gnu \
  "$cudnn_wheel/lib"; do
  [ -d "$d" ] && [ -n "$(soname_in "$d" cudnn)" ] && { cudnn_lib=$d; break; }
done
cublas_wheel=$(wheel_dir cublas)
cublas_inc=$(first_dir_with cublas_v2.h "$cuda/include" /usr/include "$cublas_wheel/include")
cublas_lib=""
for d in "$cuda/lib64" "$cuda/lib" /usr/lib/x86_64-linux-gnu "$cublas_wheel/lib"; do
  [ -d "$d" ] && [ -n "$(soname_in "$d" cublas)" ] && { cublas_lib=$d; break; }
done

[ -n "$cudnn_inc" ] && echo "CUDNN_INC=$cudnn_inc" && echo "CUDNN_VERSION=$(sed -nE \
  's/^.define CUDNN_(MAJOR|MINOR|PATCHLEVEL) +([0-9]+).*/\2/p' "$cudnn_inc/cudnn_version.h" 2>/dev/null |
  paste -sd.)"
[ -n "$cudnn_lib" ] && echo "CUDNN_LIB=$cudnn_lib" && echo "CUDNN_SO=$(soname_in "$cudnn_lib" cudnn)"
[ -n "$cublas_inc" ] && echo "CUBLAS_INC=$cublas_inc"
[ -n "$cublas_lib" ] && echo "CUBLAS_LIB=$cublas_lib" && echo "CUBLAS_SO=$(soname_in "$cublas_lib" cublas)"
if [ -z "$cudnn_inc" ] || [ -z "$cudnn_lib" ]; then
  echo "CUDA_WHY=no_cuDNN_(set_CUDNN_HOME)"
elif [ -z "$cublas_inc" ] || [ -z "$cublas_lib" ]; then
  echo "CUDA_WHY=no_cuBLAS"
elif [ -z "$cudalib" ]; then
  echo "CUDA_WHY=no_CUDA_runtime_library"
fi
