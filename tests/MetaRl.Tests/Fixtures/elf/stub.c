/* Stand-in for a system library that gains a symbol version in a newer release (like libstdc++'s GLIBCXX_3.4.32). */
int stub_old(void) { return 41; }
#ifdef WITH_NEW
int stub_new(void) { return 1; }
#endif
