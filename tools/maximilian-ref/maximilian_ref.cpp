// Reference vectors from Maximilian (micknoise/Maximilian) for Sema Live's DSP parity test
// (plugin/src/dsp/maxi_parity.rs). Sema Live's own code; Maximilian is not part of Sema Live.
//
//   git clone https://github.com/micknoise/Maximilian MAXI
//   g++ -O2 -std=c++17 -I MAXI/src tools/maximilian-ref/maximilian_ref.cpp MAXI/src/maximilian.cpp -o /tmp/maximilian_ref
//   /tmp/maximilian_ref plugin/src/dsp/fixtures
//
// Writes into the folder:
// - sawn_transition.f64: the 1001 values of the step table maxiOsc::sawn interpolates, as
//   little-endian f64 (sawn's band-limited step; Sema Live plays sawn from this data).
// - maximilian_ref.bin: 1 s at 48 kHz of each signal below. Per signal: u8 name length,
//   the name, u32 record count, then records (u16 sample index minus the previous record's,
//   f32 Maximilian output), little-endian. Kept are every sample where sawn's step table is
//   in use (sawn signals) and every STRIDE-th sample (all signals).
// The inputs here and in the Rust test must stay the same.
#include "maximilian.h"
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

extern double transition[1001];

static const int SR = 48000;
static const int STRIDE = 61;

struct Writer {
    FILE *f;
    void signal(const std::string &name, const std::vector<std::pair<uint32_t, double>> &keep) {
        uint8_t len = name.size();
        std::fwrite(&len, 1, 1, f);
        std::fwrite(name.data(), 1, len, f);
        uint32_t n = keep.size();
        std::fwrite(&n, 4, 1, f);
        uint32_t prev = 0;
        for (auto &k : keep) {
            uint16_t d = uint16_t(k.first - prev);
            float v = float(k.second);
            std::fwrite(&d, 2, 1, f);
            std::fwrite(&v, 4, 1, f);
            prev = k.first;
        }
        std::fprintf(stderr, "%-14s %6u samples\n", name.c_str(), n);
    }
    // Every STRIDE-th sample of `gen` over 1 s.
    void strided(const std::string &name, std::function<double(int)> gen) {
        std::vector<std::pair<uint32_t, double>> keep;
        for (int i = 0; i < SR; i++) {
            double v = gen(i);
            if (i % STRIDE == 0) keep.push_back({uint32_t(i), v});
        }
        signal(name, keep);
    }
};

// The frequency of the sawn scenarios at sample i.
static double sawn_freq(int scenario, int i) {
    double t = double(i) / SR;
    switch (scenario) {
    case 0: return 100.0;
    case 1: return 554.37;
    case 2: return 3000.0;
    case 3: return i < SR / 2 ? 220.0 : 1760.0;
    case 4: return 50.0 * std::pow(40.0, t);
    default: return 440.0 + 200.0 * std::sin(2.0 * M_PI * 3.0 * t);
    }
}

// The oscillators' frequency: 220 Hz, 1337.7 Hz from half a second.
static double step_freq(int i) { return i < SR / 2 ? 220.0 : 1337.7; }

int main(int argc, char **argv) {
    if (argc != 2) { std::fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]); return 2; }
    maxiSettings::setup(SR, 1, 512);
    std::string dir = argv[1];
    FILE *t = std::fopen((dir + "/sawn_transition.f64").c_str(), "wb");
    FILE *f = std::fopen((dir + "/maximilian_ref.bin").c_str(), "wb");
    if (!t || !f) { std::perror(argv[1]); return 1; }
    std::fwrite(transition, 8, 1001, t);
    std::fclose(t);
    Writer w{f};

    const char *sawn_names[] = {"sawn-100", "sawn-554", "sawn-3000", "sawn-step", "sawn-sweep", "sawn-vibrato"};
    for (int s = 0; s < 6; s++) {
        maxiOsc osc;
        double phase = 0.0; // the oscillator's phase, advanced with the same arithmetic
        std::vector<std::pair<uint32_t, double>> keep;
        for (int i = 0; i < SR; i++) {
            double fr = sawn_freq(s, i);
            double out = osc.sawn(fr);
            if (phase >= 0.5) phase -= 1.0;
            phase += 1. / (maxiSettings::sampleRate / fr);
            bool in_step = std::fabs((8820.22 / fr) * phase) < 0.5;
            // At 3 kHz the step is in use almost always: every third such sample is enough.
            if ((in_step && (s != 2 || i % 3 == 0)) || i % STRIDE == 0) keep.push_back({uint32_t(i), out});
        }
        w.signal(sawn_names[s], keep);
    }

    { maxiOsc o; w.strided("saw", [&](int i) { return o.saw(step_freq(i)); }); }
    { maxiOsc o; w.strided("sin", [&](int i) { return o.sinewave(step_freq(i)); }); }
    { maxiOsc o; w.strided("tri", [&](int i) { return o.triangle(step_freq(i)); }); }
    { maxiOsc o; w.strided("sqr", [&](int i) { return o.square(step_freq(i)); }); }
    { maxiOsc o; w.strided("pha", [&](int i) { return o.phasor(step_freq(i)); }); }
    { maxiOsc o; w.strided("pul", [&](int i) { return o.pulse(step_freq(i), 0.3); }); }
    { maxiOsc m, c; w.strided("fm", [&](int) { return c.sinewave(500.0 + 400.0 * m.sinewave(110.0)); }); }
    // Filters and effects on a 110 Hz saw (the nonlinearities on a 220 Hz sine).
    { maxiOsc o; maxiFilter fl; w.strided("lpf", [&](int) { return fl.lopass(o.saw(110.0), 0.1); }); }
    { maxiOsc o; maxiFilter fl; w.strided("hpf", [&](int) { return fl.hipass(o.saw(110.0), 0.1); }); }
    { maxiOsc o, l; maxiFilter fl; w.strided("lpz", [&](int) { return fl.lores(o.saw(110.0), 1200.0 + 1000.0 * l.sinewave(2.0), 3.0); }); }
    { maxiOsc o; maxiFilter fl; w.strided("hpz", [&](int) { return fl.hires(o.saw(110.0), 800.0, 5.0); }); }
    { maxiOsc o; maxiDelayline d; w.strided("dl", [&](int) { return d.dl(o.saw(110.0), 4000, 0.7); }); }
    { maxiOsc o; maxiNonlinearity n; w.strided("dist", [&](int) { return n.atanDist(2.0 * o.sinewave(220.0), 3.0); }); }
    { maxiOsc o; maxiNonlinearity n; w.strided("asymclip", [&](int) { return n.asymclip(1.5 * o.sinewave(220.0), 2.0, 0.5); }); }
    std::fclose(f);
}
