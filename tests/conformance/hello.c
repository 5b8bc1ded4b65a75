// The smallest conformance test: output, argv and the exit status.
#include <stdio.h>

int main(int argc, char** argv) {
  (void)argv;
  printf("hello, world\n");
  printf("argc=%d\n", argc);
  return 0;
}
