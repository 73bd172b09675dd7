/* Like libLibTorchSharp.so: calls an old-version symbol and takes the address of a new-version one. */
extern int stub_old(void);
extern int stub_new(void);
int (*fixture_new_address)(void) = &stub_new;
int fixture_answer(void) { return stub_old() + 1; }
int fixture_has_new(void) { return fixture_new_address != 0; }
