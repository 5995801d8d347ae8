// Herald's jest configuration for the rehosted soketi tests (soketi's own: ts-jest,
// jest-circus, maxWorkers 1, 20 s per test; coverage collection dropped). testEnvironment
// is `node` (jest 27's default) instead of jest 26's default jsdom: under jsdom axios goes
// through a browser XMLHttpRequest with CORS checks, and a 404 without
// Access-Control-Allow-Origin (Pusher's HTTP API is server-to-server and sends none) shows
// up as status 0 "Network Error".
module.exports = {
    rootDir: __dirname,
    roots: ['<rootDir>/tests'],
    testEnvironment: 'node',
    transform: {
        '^.+\\.tsx?$': 'ts-jest',
    },
    moduleFileExtensions: ['ts', 'tsx', 'js', 'jsx', 'json', 'node'],
    testTimeout: 20 * 1000,
    maxWorkers: 1,
    testRunner: 'jest-circus/runner',
    globals: {
        'ts-jest': {
            isolatedModules: true,
        },
        Uint8Array: Uint8Array,
    },
};
