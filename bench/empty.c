/* The empty preload: the floor any LD_PRELOAD library pays (the loader
 * opens, maps and relocates one more object). One symbol so that the
 * object is not completely empty. */
int timeoutsock_bench_empty(void)
{
    return 0;
}
