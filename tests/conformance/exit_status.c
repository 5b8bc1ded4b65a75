// The exit status of init is the boot's exit status.
#include <stdio.h>
#include <stdlib.h>

int main(void) {
  printf("exiting with 42\n");
  fflush(stdout);
  exit(42);
}
